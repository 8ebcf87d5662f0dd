// Package store keeps a vcluster with an External backing store on hosts
// whose region can reach that store.
package store

import "github.com/vfleet/vfleet/placement/framework"

// Name of the plugin.
const Name = "BackingStoreReachable"

// Plugin is the store reachability filter.
type Plugin struct{}

var (
	_ framework.Filter    = Plugin{}
	_ framework.Relevance = Plugin{}
)

func (Plugin) Name() string { return Name }

// Relevant for External vclusters.
func (Plugin) Relevant(req *framework.Request) bool { return req.Store != "" }

// Filter passes hosts in the store's region or in a region it is reachable
// from.
func (Plugin) Filter(req *framework.Request, h *framework.Host, fleet framework.Fleet) (bool, string) {
	reachable, known := fleet.StoreReachable(req.Store, h.Region)
	switch {
	case !known:
		return false, "backing store " + req.Store + " not found"
	case !reachable:
		return false, "backing store unreachable from region"
	}
	if ready, why := fleet.StoreReady(req.Store); !ready {
		return false, "backing store " + req.Store + " not ready: " + why
	}
	return true, ""
}
