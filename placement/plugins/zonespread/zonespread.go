// Package zonespread prefers the zones that hold the fewest vclusters of the
// same anti-affinity group: one tenant's replicas across zones, beyond what
// the anti-affinity filter strictly demands.
package zonespread

import (
	"math"

	"github.com/vfleet/vfleet/placement/framework"
)

// Name of the plugin.
const Name = "ZoneSpread"

// Plugin is the zone spreading score.
type Plugin struct{}

var (
	_ framework.Score      = Plugin{}
	_ framework.Normalizer = Plugin{}
	_ framework.Relevance  = Plugin{}
)

func (Plugin) Name() string { return Name }

// Relevant for vclusters in a group.
func (Plugin) Relevant(req *framework.Request) bool { return req.Group != "" }

// Score is minus the group's count in the host's zone.
func (Plugin) Score(req *framework.Request, h *framework.Host, fleet framework.Fleet) int64 {
	return -int64(fleet.GroupCountInZone(req.Group, h.Zone))
}

// Normalize gives 100 to the emptiest zones and 0 to the fullest.
func (Plugin) Normalize(scores []int64) {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range scores {
		lo, hi = min(lo, s), max(hi, s)
	}
	for i, s := range scores {
		if hi == lo {
			scores[i] = framework.MaxScore
			continue
		}
		scores[i] = (s - lo) * framework.MaxScore / (hi - lo)
	}
}
