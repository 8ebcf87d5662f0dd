package placement

import (
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/placement/framework"
	"github.com/vfleet/vfleet/placement/plugins/antiaffinity"
	"github.com/vfleet/vfleet/placement/plugins/binpack"
	"github.com/vfleet/vfleet/placement/plugins/capacity"
	"github.com/vfleet/vfleet/placement/plugins/health"
	"github.com/vfleet/vfleet/placement/plugins/lowestcost"
	"github.com/vfleet/vfleet/placement/plugins/region"
	"github.com/vfleet/vfleet/placement/plugins/selector"
	"github.com/vfleet/vfleet/placement/plugins/selffence"
	"github.com/vfleet/vfleet/placement/plugins/spread"
	"github.com/vfleet/vfleet/placement/plugins/steady"
	"github.com/vfleet/vfleet/placement/plugins/store"
	"github.com/vfleet/vfleet/placement/plugins/taints"
	"github.com/vfleet/vfleet/placement/plugins/version"
	"github.com/vfleet/vfleet/placement/plugins/zonespread"
)

// Profile is the plugins a decision runs: every filter, in order (the
// first that fails names the reason), and per strategy a weighted sum of
// scores.
type Profile struct {
	Filters []framework.Filter
	Scores  map[fleetv1.PlacementStrategy][]weighted
}

type weighted struct {
	Plugin framework.Score
	Weight int64
}

// DefaultProfile is vfleet's placement. The cheap, common reasons come
// first so that the explanation names what an operator would fix first:
// a host that is down says "unreachable", not "insufficient cpu".
func DefaultProfile() Profile {
	// Steady and ZoneSpread refine every strategy without overriding it:
	// moving a vcluster costs more than a slightly better fit.
	refine := func(primary framework.Score, extra ...weighted) []weighted {
		return append([]weighted{{primary, 10}, {steady.Plugin{}, 20}, {zonespread.Plugin{}, 5}}, extra...)
	}
	return Profile{
		Filters: []framework.Filter{
			health.Plugin{},
			region.Plugin{},
			taints.Plugin{},
			version.Plugin{},
			selector.Plugin{},
			store.Plugin{},
			selffence.Plugin{},
			antiaffinity.Plugin{},
			capacity.Plugin{},
		},
		Scores: map[fleetv1.PlacementStrategy][]weighted{
			fleetv1.StrategyBinPack: refine(binpack.Plugin{}),
			fleetv1.StrategySpread:  refine(spread.Plugin{}),
			// Among equally cheap hosts, fill the fuller one.
			fleetv1.StrategyLowestCost: refine(lowestcost.Plugin{}, weighted{binpack.Plugin{}, 1}),
		},
	}
}
