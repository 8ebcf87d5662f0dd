// Package framework defines what placement plugins see and implement: the
// request, a host of the snapshot, and the Filter and Score interfaces.
package framework

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/cost"
)

// Resources is an amount of the resources placement accounts in.
type Resources struct {
	MilliCPU int64
	Memory   int64 // bytes
	Pods     int64
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{r.MilliCPU + o.MilliCPU, r.Memory + o.Memory, r.Pods + o.Pods}
}

// String says r as a person reads it: cpu 1500m, memory 2Gi, 30 pods.
func (r Resources) String() string {
	return fmt.Sprintf("cpu %s, memory %s, %d pods",
		resource.NewMilliQuantity(r.MilliCPU, resource.DecimalSI), resource.NewQuantity(r.Memory, resource.BinarySI), r.Pods)
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{r.MilliCPU - o.MilliCPU, r.Memory - o.Memory, r.Pods - o.Pods}
}

// Fits reports whether r fits within limit in every resource.
func (r Resources) Fits(limit Resources) bool {
	return r.MilliCPU <= limit.MilliCPU && r.Memory <= limit.Memory && r.Pods <= limit.Pods
}

// Request is one vcluster to place, resolved from its VirtualCluster.
type Request struct {
	// Key is namespace/name; UID identifies its reservation.
	Key string
	UID types.UID
	// Labels of the VirtualCluster, for anti-affinity.
	Labels map[string]string

	Version string
	// Resources is the quota plus the control plane's overhead: what the
	// host commits.
	Resources Resources

	Regions map[string]bool // empty: any
	Zones   map[string]bool // empty: any
	// Selector matches host labels; nil matches every host.
	Selector    labels.Selector
	Tolerations []corev1.Toleration
	// Store is the BackingStore of an External vcluster; empty for Embedded.
	Store string

	Strategy     fleetv1.PlacementStrategy
	AntiAffinity *fleetv1.AntiAffinity
	// Group is what ZoneSpread spreads: the anti-affinity label value if
	// there is one, else the namespace (the tenant).
	Group string
	// CurrentHost is where the vcluster runs now, for Steady.
	CurrentHost string
	// Exclude lists hosts the vcluster must leave (failover, drain).
	Exclude map[string]bool
	// Only, if set, is the one host considered (a migration to it).
	Only string
	// FailoverAfter is the vcluster's failover delay when it can fail
	// over; a host must self-fence sooner.
	FailoverAfter time.Duration
}

// Host is a host as placement sees it.
type Host struct {
	Name   string
	Region string
	Zone   string
	Labels labels.Set

	Ready         bool
	Unschedulable bool
	// Taints that repel: NoSchedule and NoExecute.
	Taints   []corev1.Taint
	Versions []string
	// SelfFenceAfter is how long its agent runs control planes without
	// renewing its Lease; zero when it does not say.
	SelfFenceAfter time.Duration

	// Capacity is allocatable times the overcommit ratio.
	Capacity Resources
	// Committed is the sum of the reservations on the host.
	Committed Resources

	// Prices are the host's, when HasPrices.
	HasPrices bool
	Prices    cost.Prices
}

// Free is what the host can still commit.
func (h *Host) Free() Resources { return h.Capacity.Sub(h.Committed) }

// Fleet is what plugins may ask of the rest of the snapshot.
type Fleet interface {
	// LabelCount counts vclusters labelled key=value on a host, or in a zone.
	LabelCountOnHost(key, value, host string) int
	LabelCountInZone(key, value, zone string) int
	// GroupCountInZone counts vclusters of a ZoneSpread group in a zone.
	GroupCountInZone(group, zone string) int
	// StoreReachable reports whether hosts in region can reach the store.
	StoreReachable(store, region string) (reachable, known bool)
	// StoreReady reports whether the hub can use the store now, and if
	// not, why (its Ready condition).
	StoreReady(store string) (ready bool, why string)
}

// Plugin is anything placement runs.
type Plugin interface {
	Name() string
}

// Filter rules hosts out. Reason is short and counted across hosts in the
// explanation, such as "insufficient memory".
type Filter interface {
	Plugin
	Filter(req *Request, host *Host, fleet Fleet) (ok bool, reason string)
}

// Score ranks the hosts that passed every filter, from 0 to MaxScore.
type Score interface {
	Plugin
	Score(req *Request, host *Host, fleet Fleet) int64
}

// MaxScore is the best score a plugin gives.
const MaxScore = 100

// Relevance lets a plugin say it has nothing to do for a request, so it
// costs nothing per host: a selector filter without a selector, say.
type Relevance interface {
	Relevant(req *Request) bool
}

// Normalizer rescales a plugin's raw scores over the hosts that fit, for
// plugins whose scale depends on the other hosts (cheapest host gets 100).
type Normalizer interface {
	Normalize(scores []int64)
}
