package placement

import (
	"time"

	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/cost"
	"github.com/vfleet/vfleet/placement/framework"
)

// HostFrom turns a HostCluster into what placement sees of it. Capacity is
// the agent-reported allocatable times the host's overcommit; committed
// comes from the engine's ledger, not from status, which lags.
func HostFrom(hc *fleetv1.HostCluster) *framework.Host {
	h := &framework.Host{
		Name:           hc.Name,
		Region:         hc.Spec.Region,
		Zone:           hc.Spec.Zone,
		Labels:         labels.Set(hc.Labels),
		Ready:          meta.IsStatusConditionTrue(hc.Status.Conditions, fleetv1.ConditionReady),
		Unschedulable:  hc.Spec.Unschedulable,
		Versions:       hc.Status.KubernetesVersions,
		SelfFenceAfter: time.Duration(hc.Status.SelfFenceAfterSeconds) * time.Second,
	}
	for _, t := range hc.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			h.Taints = append(h.Taints, t)
		}
	}
	cpuPct, memPct := int64(hc.Spec.Overcommit.CPUPercent), int64(hc.Spec.Overcommit.MemoryPercent)
	if cpuPct == 0 {
		cpuPct = 100
	}
	if memPct == 0 {
		memPct = 100
	}
	alloc := hc.Status.Allocatable
	h.Capacity = framework.Resources{
		MilliCPU: alloc.Cpu().MilliValue() * cpuPct / 100,
		Memory:   alloc.Memory().Value() / 100 * memPct,
		Pods:     alloc.Pods().Value(),
	}
	h.Prices, h.HasPrices = cost.Of(hc.Spec.Prices)
	return h
}

// UpsertHost adds a host to the snapshot or updates it. The engine keeps a
// copy; the caller keeps h.
func (e *Engine) UpsertHost(in *framework.Host) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.newHost()
	*h = *in
	h.Committed = e.committed[h.Name]
	old, ok := e.hosts[h.Name]
	if ok && old.Region == h.Region {
		*old = *h // same pointer in every index
		return
	}
	if ok {
		e.removeHost(old)
	}
	e.hosts[h.Name] = h
	e.all = append(e.all, h)
	e.byRegion[h.Region] = append(e.byRegion[h.Region], h)
}

// newHost returns a host from the current slab. A deleted host's slot is
// not reused; slabs are small next to the hosts they hold.
func (e *Engine) newHost() *framework.Host {
	const slabSize = 256
	if len(e.slab) == cap(e.slab) {
		e.slab = make([]framework.Host, 0, slabSize)
	}
	e.slab = e.slab[:len(e.slab)+1]
	return &e.slab[len(e.slab)-1]
}

// DeleteHost removes a host. Reservations on it stay until released: the
// vclusters there still hold them until they are moved.
func (e *Engine) DeleteHost(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if h, ok := e.hosts[name]; ok {
		e.removeHost(h)
	}
}

func (e *Engine) removeHost(h *framework.Host) {
	delete(e.hosts, h.Name)
	e.all = without(e.all, h)
	e.byRegion[h.Region] = without(e.byRegion[h.Region], h)
	if len(e.byRegion[h.Region]) == 0 {
		delete(e.byRegion, h.Region)
	}
}

func without(hosts []*framework.Host, h *framework.Host) []*framework.Host {
	if i := slices.Index(hosts, h); i >= 0 {
		hosts[i] = hosts[len(hosts)-1]
		hosts = hosts[:len(hosts)-1]
	}
	return hosts
}

// UpsertStore records a BackingStore's region and where it is reachable from.
func (e *Engine) UpsertStore(bs *fleetv1.BackingStore) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := storeInfo{region: bs.Spec.Region, reachable: map[string]bool{}, why: "the hub has not checked it yet"}
	if c := meta.FindStatusCondition(bs.Status.Conditions, fleetv1.ConditionReady); c != nil {
		s.ready, s.why = c.Status == metav1.ConditionTrue, c.Message
	}
	for _, r := range bs.Spec.ReachableFromRegions {
		s.reachable[r] = true
	}
	e.stores[bs.Name] = s
}

// DeleteStore forgets a BackingStore.
func (e *Engine) DeleteStore(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.stores, name)
}
