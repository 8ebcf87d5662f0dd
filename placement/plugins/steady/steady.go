// Package steady prefers the host a vcluster already runs on, so that
// re-placing it (after a resize, say) moves it only when it must.
package steady

import "github.com/vfleet/vfleet/placement/framework"

// Name of the plugin.
const Name = "Steady"

// Plugin is the current-host score.
type Plugin struct{}

var (
	_ framework.Score     = Plugin{}
	_ framework.Relevance = Plugin{}
)

func (Plugin) Name() string { return Name }

// Relevant when the vcluster runs somewhere.
func (Plugin) Relevant(req *framework.Request) bool { return req.CurrentHost != "" }

// Score is 100 on the current host, 0 elsewhere.
func (Plugin) Score(req *framework.Request, h *framework.Host, _ framework.Fleet) int64 {
	if h.Name == req.CurrentHost {
		return framework.MaxScore
	}
	return 0
}
