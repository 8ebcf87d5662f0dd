// Package ctrlopts holds the controller options every vfleet manager
// shares: the hub's, the agent's and the syncer's.
package ctrlopts

import (
	"k8s.io/utils/ptr"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
)

// Controller is c with controller-runtime's priority queue off unless c
// asks for it. v0.24's can hang a stopping manager: it hands an item to a
// worker that has already left, while holding the lock the other workers
// need (kubernetes-sigs/controller-runtime#3538, fixed in v0.25, which
// needs Kubernetes 0.37 libraries). The syncer's tests saw it as a stop
// that waited out its grace period.
func Controller(c ctrlconfig.Controller) ctrlconfig.Controller {
	if c.UsePriorityQueue == nil {
		c.UsePriorityQueue = ptr.To(false)
	}
	return c
}
