// Package taints keeps placement off hosts whose NoSchedule or NoExecute
// taints the vcluster does not tolerate.
package taints

import (
	"k8s.io/klog/v2"

	"github.com/vfleet/vfleet/placement/framework"
)

// Name of the plugin.
const Name = "Taints"

// Plugin is the taint filter.
type Plugin struct{}

var _ framework.Filter = Plugin{}

func (Plugin) Name() string { return Name }

// Filter passes hosts whose every repelling taint is tolerated.
func (Plugin) Filter(req *framework.Request, h *framework.Host, _ framework.Fleet) (bool, string) {
	for i := range h.Taints {
		if !tolerated(req, i, h) {
			return false, "untolerated taint " + h.Taints[i].Key
		}
	}
	return true, ""
}

func tolerated(req *framework.Request, i int, h *framework.Host) bool {
	for j := range req.Tolerations {
		// Numeric comparison operators are an alpha feature; vfleet does
		// not offer them.
		if req.Tolerations[j].ToleratesTaint(klog.Background(), &h.Taints[i], false) {
			return true
		}
	}
	return false
}
