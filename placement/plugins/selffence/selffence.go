// Package selffence keeps a vcluster that fails over off hosts whose agent
// would not stop its control plane before the hub brings up another: the
// agent must self-fence sooner than the vcluster's failover delay.
package selffence

import (
	"fmt"

	"github.com/vfleet/vfleet/placement/framework"
)

// Name of the plugin.
const Name = "SelfFenceBeforeFailover"

// Plugin is the self-fencing filter.
type Plugin struct{}

var (
	_ framework.Filter    = Plugin{}
	_ framework.Relevance = Plugin{}
)

func (Plugin) Name() string { return Name }

// Relevant for vclusters the hub fails over by itself.
func (Plugin) Relevant(req *framework.Request) bool { return req.FailoverAfter > 0 }

// Filter passes hosts whose agent self-fences before the failover delay.
func (Plugin) Filter(req *framework.Request, h *framework.Host, _ framework.Fleet) (bool, string) {
	switch {
	case h.SelfFenceAfter <= 0:
		return false, "agent does not report a self-fencing delay"
	case h.SelfFenceAfter >= req.FailoverAfter:
		return false, fmt.Sprintf("agent self-fences after %s, not below failover.afterSeconds (%s)", h.SelfFenceAfter, req.FailoverAfter)
	}
	return true, ""
}
