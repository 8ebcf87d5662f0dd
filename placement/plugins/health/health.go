// Package health keeps placement off hosts whose agent is silent or that
// are cordoned.
package health

import "github.com/vfleet/vfleet/placement/framework"

// Name of the plugin.
const Name = "Health"

// Plugin is the health filter.
type Plugin struct{}

var _ framework.Filter = Plugin{}

func (Plugin) Name() string { return Name }

// Filter passes Ready hosts that are not cordoned.
func (Plugin) Filter(_ *framework.Request, h *framework.Host, _ framework.Fleet) (bool, string) {
	switch {
	case !h.Ready:
		return false, "unreachable"
	case h.Unschedulable:
		return false, "cordoned"
	}
	return true, ""
}
