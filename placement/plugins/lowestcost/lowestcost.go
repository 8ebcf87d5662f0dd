// Package lowestcost prefers the host where the vcluster's quota costs the
// least an hour, from the prices in HostCluster.spec.
package lowestcost

import (
	"math"

	"github.com/vfleet/vfleet/placement/framework"
)

// Name of the plugin.
const Name = "LowestCost"

// Plugin is the cost score.
type Plugin struct{}

var (
	_ framework.Score      = Plugin{}
	_ framework.Normalizer = Plugin{}
)

func (Plugin) Name() string { return Name }

// unpriced is the raw score of a host without prices: below any priced one.
const unpriced = math.MinInt64

// Score is minus the hourly cost in micro-units; Normalize turns it into
// 100 for the cheapest host and 0 for the dearest.
func (Plugin) Score(req *framework.Request, h *framework.Host, _ framework.Fleet) int64 {
	if !h.HasPrices {
		return unpriced
	}
	return -int64(math.Round(h.Prices.PerHour(req.Resources.MilliCPU, req.Resources.Memory) * 1e6))
}

// Normalize rescales the priced hosts' scores to 0-100; unpriced hosts get 0.
func (Plugin) Normalize(scores []int64) {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range scores {
		if s != unpriced {
			lo, hi = min(lo, s), max(hi, s)
		}
	}
	for i, s := range scores {
		switch {
		case s == unpriced:
			scores[i] = 0
		case hi == lo:
			scores[i] = framework.MaxScore
		default:
			scores[i] = (s - lo) * framework.MaxScore / (hi - lo)
		}
	}
}
