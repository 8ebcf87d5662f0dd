// Package capacity keeps a vcluster off hosts that cannot commit its quota
// and control-plane overhead on top of what they already committed.
package capacity

import "github.com/vfleet/vfleet/placement/framework"

// Name of the plugin.
const Name = "CapacityFit"

// Plugin is the capacity filter.
type Plugin struct{}

var _ framework.Filter = Plugin{}

func (Plugin) Name() string { return Name }

// Filter passes hosts whose free capacity (allocatable times overcommit,
// less committed) holds the request in cpu, memory and pods.
func (Plugin) Filter(req *framework.Request, h *framework.Host, _ framework.Fleet) (bool, string) {
	free := h.Free()
	switch {
	case req.Resources.MilliCPU > free.MilliCPU:
		return false, "insufficient cpu"
	case req.Resources.Memory > free.Memory:
		return false, "insufficient memory"
	case req.Resources.Pods > free.Pods:
		return false, "insufficient pods"
	}
	return true, ""
}
