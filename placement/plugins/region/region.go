// Package region keeps a vcluster in the regions and zones it allows.
package region

import "github.com/vfleet/vfleet/placement/framework"

// Name of the plugin.
const Name = "Region"

// Plugin is the region and zone allow-list filter.
type Plugin struct{}

var (
	_ framework.Filter    = Plugin{}
	_ framework.Relevance = Plugin{}
)

func (Plugin) Name() string { return Name }

// Relevant when the request limits regions or zones.
func (Plugin) Relevant(req *framework.Request) bool {
	return len(req.Regions) > 0 || len(req.Zones) > 0
}

// Filter passes hosts in an allowed region and zone.
func (Plugin) Filter(req *framework.Request, h *framework.Host, _ framework.Fleet) (bool, string) {
	if len(req.Regions) > 0 && !req.Regions[h.Region] {
		return false, "region not allowed"
	}
	if len(req.Zones) > 0 && !req.Zones[h.Zone] {
		return false, "zone not allowed"
	}
	return true, ""
}
