// Package binpack prefers the host that is fullest once the vcluster is on
// it, leaving whole hosts free for large requests and for scale-down.
package binpack

import "github.com/vfleet/vfleet/placement/framework"

// Name of the plugin.
const Name = "BinPack"

// Plugin is the most-allocated score.
type Plugin struct{}

var _ framework.Score = Plugin{}

func (Plugin) Name() string { return Name }

// Score is the mean of the cpu and memory shares the host would have
// committed, from 0 to 100.
func (Plugin) Score(req *framework.Request, h *framework.Host, _ framework.Fleet) int64 {
	return Allocated(req, h)
}

// Allocated is the share of the host committed once req is on it, 0-100.
func Allocated(req *framework.Request, h *framework.Host) int64 {
	after := h.Committed.Add(req.Resources)
	return (share(after.MilliCPU, h.Capacity.MilliCPU) + share(after.Memory, h.Capacity.Memory)) / 2
}

func share(used, capacity int64) int64 {
	if capacity <= 0 {
		return framework.MaxScore
	}
	return min(used*framework.MaxScore/capacity, framework.MaxScore)
}
