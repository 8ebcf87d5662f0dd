// Package antiaffinity keeps vclusters that share a label value apart: not
// on the same host, or not in the same zone.
package antiaffinity

import (
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/placement/framework"
)

// Name of the plugin.
const Name = "AntiAffinity"

// Plugin is the anti-affinity filter.
type Plugin struct{}

var (
	_ framework.Filter    = Plugin{}
	_ framework.Relevance = Plugin{}
)

func (Plugin) Name() string { return Name }

// Relevant when the request declares anti-affinity and carries the label.
func (Plugin) Relevant(req *framework.Request) bool {
	if req.AntiAffinity == nil {
		return false
	}
	_, ok := req.Labels[req.AntiAffinity.LabelKey]
	return ok
}

// Filter passes hosts (or zones) where no other vcluster has the same value
// of the label.
func (Plugin) Filter(req *framework.Request, h *framework.Host, fleet framework.Fleet) (bool, string) {
	key := req.AntiAffinity.LabelKey
	value := req.Labels[key]
	if req.AntiAffinity.Scope == fleetv1.AntiAffinityZone {
		if fleet.LabelCountInZone(key, value, h.Zone) > 0 {
			return false, "anti-affinity: zone holds " + key + "=" + value
		}
		return true, ""
	}
	if fleet.LabelCountOnHost(key, value, h.Name) > 0 {
		return false, "anti-affinity: host holds " + key + "=" + value
	}
	return true, ""
}
