// Package selector keeps a vcluster on hosts whose labels its host
// selector matches.
package selector

import "github.com/vfleet/vfleet/placement/framework"

// Name of the plugin.
const Name = "HostSelector"

// Plugin is the host selector filter.
type Plugin struct{}

var (
	_ framework.Filter    = Plugin{}
	_ framework.Relevance = Plugin{}
)

func (Plugin) Name() string { return Name }

// Relevant when the request has a non-empty selector.
func (Plugin) Relevant(req *framework.Request) bool {
	return req.Selector != nil && !req.Selector.Empty()
}

// Filter passes hosts the selector matches.
func (Plugin) Filter(req *framework.Request, h *framework.Host, _ framework.Fleet) (bool, string) {
	if req.Selector.Matches(h.Labels) {
		return true, ""
	}
	return false, "host selector mismatch"
}
