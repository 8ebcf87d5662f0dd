// Package version keeps a vcluster on hosts that have the binaries of its
// Kubernetes version.
package version

import (
	"slices"

	"github.com/vfleet/vfleet/placement/framework"
)

// Name of the plugin.
const Name = "Version"

// Plugin is the Kubernetes version filter.
type Plugin struct{}

var _ framework.Filter = Plugin{}

func (Plugin) Name() string { return Name }

// Filter passes hosts that can run the requested version.
func (Plugin) Filter(req *framework.Request, h *framework.Host, _ framework.Fleet) (bool, string) {
	if slices.Contains(h.Versions, req.Version) {
		return true, ""
	}
	return false, "no " + req.Version + " binaries"
}
