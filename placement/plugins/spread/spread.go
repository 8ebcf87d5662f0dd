// Package spread prefers the emptiest host, so vclusters share hosts as
// little as possible.
package spread

import (
	"github.com/vfleet/vfleet/placement/framework"
	"github.com/vfleet/vfleet/placement/plugins/binpack"
)

// Name of the plugin.
const Name = "Spread"

// Plugin is the least-allocated score.
type Plugin struct{}

var _ framework.Score = Plugin{}

func (Plugin) Name() string { return Name }

// Score is 100 minus BinPack's.
func (Plugin) Score(req *framework.Request, h *framework.Host, _ framework.Fleet) int64 {
	return framework.MaxScore - binpack.Allocated(req, h)
}
