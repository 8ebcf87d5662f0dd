// Package fleetmetrics exports the fleet as the hub's catalogue holds it:
// hosts and their health, capacity, heartbeat age, vclusters by phase, and
// what they cost. Every figure is computed at scrape time from the
// manager's cache, so it is never out of step with the objects and there
// is no second copy of the fleet to keep in sync.
package fleetmetrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/cost"
)

// Heartbeats says when the hub last saw a host's agent renew its Lease, by
// the hub's own clock.
type Heartbeats interface {
	LastSeen(host string) (time.Time, bool)
}

// Collector is a prometheus.Collector over the hub's cache.
type Collector struct {
	Reader     client.Reader
	Heartbeats Heartbeats
	Clock      clock.PassiveClock
	// Leading reports whether this replica leads the hub: only the leader
	// exports the fleet, so that two replicas are not summed twice, and
	// only the leader sees heartbeats.
	Leading func() bool
}

// scrapeTimeout bounds the cache reads of one scrape.
const scrapeTimeout = 5 * time.Second

var (
	hostLabels = []string{"host", "region"}
	capLabels  = []string{"host", "region", "resource", "unit"}
	vcLabels   = []string{"namespace", "virtualcluster", "host", "region", "currency", "basis"}

	descHosts = prometheus.NewDesc("vfleet_hub_hosts",
		"Host clusters by region and state (Ready, NotReady or Unknown, from their Ready condition).", []string{"region", "state"}, nil)
	descAllocatable = prometheus.NewDesc("vfleet_hub_host_allocatable",
		"What a host's Ready, schedulable nodes offer, as its agent reports it.", capLabels, nil)
	descCommitted = prometheus.NewDesc("vfleet_hub_host_committed",
		"What a host has promised: its vclusters' quotas plus their control planes' overhead.", capLabels, nil)
	descUsed = prometheus.NewDesc("vfleet_hub_host_used",
		"What the pods in a host's vfleet namespaces request.", capLabels, nil)
	descHeartbeatAge = prometheus.NewDesc("vfleet_hub_host_heartbeat_age_seconds",
		"How long ago the hub last saw the host's agent renew its Lease, by the hub's clock.", hostLabels, nil)
	descVClusters = prometheus.NewDesc("vfleet_hub_virtualclusters",
		"VirtualClusters by namespace, region, host and phase.", []string{"namespace", "region", "host", "phase"}, nil)
	// Costs are per hour, not per second: they are priced per hour
	// (HostCluster.spec.prices) and read per hour.
	descVClusterCost = prometheus.NewDesc("vfleet_hub_virtualcluster_cost_per_hour",
		"What a vcluster costs an hour at its host's prices: basis reserved (its quota), requested (what its pods request) or idle (reserved minus requested, per resource, never below zero).", vcLabels, nil)
	descVClusterResources = prometheus.NewDesc("vfleet_hub_virtualcluster_resources",
		"What a vcluster holds on its host: basis reserved (its quota) or requested (what its pods request, as its host's agent reports it).",
		[]string{"namespace", "virtualcluster", "host", "region", "resource", "unit", "basis"}, nil)
	descHostCost = prometheus.NewDesc("vfleet_hub_host_cost_per_hour",
		"What a host's capacity costs an hour at its prices: basis allocatable, committed or used.", []string{"host", "region", "currency", "basis"}, nil)
)

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHosts, descAllocatable, descCommitted, descUsed, descHeartbeatAge, descVClusters, descVClusterCost, descVClusterResources, descHostCost} {
		ch <- d
	}
}

// Collect reads the catalogue from the cache and sends the fleet's
// figures. A read that fails sends an invalid metric, so that the scrape
// shows the error rather than a fleet that looks empty.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.Leading != nil && !c.Leading() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var hosts fleetv1.HostClusterList
	var vcs fleetv1.VirtualClusterList
	var cps fleetv1.ControlPlaneList
	for _, l := range []client.ObjectList{&hosts, &vcs, &cps} {
		if err := c.Reader.List(ctx, l); err != nil {
			ctrl.Log.WithName("fleetmetrics").Error(err, "Cannot read the catalogue for a scrape")
			ch <- prometheus.NewInvalidMetric(descHosts, err)
			return
		}
	}
	for _, m := range Measure(hosts.Items, vcs.Items, cps.Items, c.Heartbeats, c.Clock.Now()) {
		ch <- m
	}
}

// Measure computes the fleet's metrics from its objects: a pure function
// of them, the heartbeats and now.
func Measure(hosts []fleetv1.HostCluster, vcs []fleetv1.VirtualCluster, cps []fleetv1.ControlPlane, beats Heartbeats, now time.Time) []prometheus.Metric {
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	byHost := map[string]hostInfo{}
	states := map[[2]string]int{}
	for i := range hosts {
		h := &hosts[i]
		info := hostInfo{region: h.Spec.Region}
		info.prices, info.priced = cost.Of(h.Spec.Prices)
		byHost[h.Name] = info
		states[[2]string{h.Spec.Region, hostState(h)}]++
		for _, l := range []struct {
			desc *prometheus.Desc
			list corev1.ResourceList
		}{{descAllocatable, h.Status.Allocatable}, {descCommitted, h.Status.Committed}, {descUsed, h.Status.Used}} {
			for _, r := range resources {
				if q, ok := l.list[r.name]; ok {
					gauge(l.desc, q.AsApproximateFloat64(), h.Name, h.Spec.Region, string(r.name), r.unit)
				}
			}
		}
		if beats != nil {
			if seen, ok := beats.LastSeen(h.Name); ok {
				gauge(descHeartbeatAge, max(now.Sub(seen), 0).Seconds(), h.Name, h.Spec.Region)
			}
		}
		if info.priced {
			for basis, l := range map[string]corev1.ResourceList{"allocatable": h.Status.Allocatable, "committed": h.Status.Committed, "used": h.Status.Used} {
				gauge(descHostCost, info.prices.OfList(l), h.Name, h.Spec.Region, info.prices.Currency, basis)
			}
		}
	}
	for _, state := range []string{"Ready", "NotReady", "Unknown"} {
		for _, region := range regions(hosts) {
			gauge(descHosts, float64(states[[2]string{region, state}]), region, state)
		}
	}

	return append(out, measureVClusters(vcs, cps, byHost)...)
}

// hostInfo is what a vcluster's metrics need of its host.
type hostInfo struct {
	region string
	prices cost.Prices
	priced bool
}

// measureVClusters computes the vclusters' metrics: counts, what each
// holds, and what it costs at its host's prices.
func measureVClusters(vcs []fleetv1.VirtualCluster, cps []fleetv1.ControlPlane, byHost map[string]hostInfo) []prometheus.Metric {
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	used := map[cpKey]corev1.ResourceList{}
	for i := range cps {
		cp := &cps[i]
		if u := cp.Status.Used; u != nil {
			used[cpKey{cp.Namespace, cp.Spec.VirtualCluster.Namespace, cp.Spec.VirtualCluster.Name, cp.Spec.Epoch}] = corev1.ResourceList{corev1.ResourceCPU: u.CPU, corev1.ResourceMemory: u.Memory}
		}
	}
	type vcGroup struct{ namespace, region, host, phase string }
	counts := map[vcGroup]int{}
	for i := range vcs {
		vc := &vcs[i]
		host := byHost[vc.Status.Host]
		phase := string(vc.Status.Phase)
		if phase == "" {
			phase = string(fleetv1.PhasePending)
		}
		counts[vcGroup{vc.Namespace, host.region, vc.Status.Host, phase}]++
		// A copy that runs nothing (another region runs it) holds and
		// costs nothing here; one without a reservation neither.
		if vc.Status.Reserved == nil || vc.Status.Phase == fleetv1.PhaseElsewhere {
			continue
		}
		reserved := corev1.ResourceList{corev1.ResourceCPU: vc.Status.Reserved.CPU, corev1.ResourceMemory: vc.Status.Reserved.Memory}
		requested := used[cpKey{fleetv1.HostNamespace(vc.Status.Host), vc.Namespace, vc.Name, vc.Status.Epoch}]
		for basis, l := range map[string]corev1.ResourceList{"reserved": reserved, "requested": requested} {
			for _, r := range resources[:2] {
				q := l[r.name]
				gauge(descVClusterResources, q.AsApproximateFloat64(), vc.Namespace, vc.Name, vc.Status.Host, host.region, string(r.name), r.unit, basis)
			}
		}
		if !host.priced {
			continue
		}
		labels := func(basis string) []string {
			return []string{vc.Namespace, vc.Name, vc.Status.Host, host.region, host.prices.Currency, basis}
		}
		gauge(descVClusterCost, host.prices.OfList(reserved), labels("reserved")...)
		gauge(descVClusterCost, host.prices.OfList(requested), labels("requested")...)
		gauge(descVClusterCost, host.prices.OfList(Idle(reserved, requested)), labels("idle")...)
	}
	for g, n := range counts {
		gauge(descVClusters, float64(n), g.namespace, g.region, g.host, g.phase)
	}
	return out
}

// cpKey finds a vcluster's ControlPlane: its host's namespace, the
// vcluster, and the epoch it runs at.
type cpKey struct {
	hostNamespace, namespace, name string
	epoch                          int64
}

// resources are those the fleet accounts in, with the unit of each, as
// kube-state-metrics labels a node's capacity.
var resources = []struct {
	name corev1.ResourceName
	unit string
}{{corev1.ResourceCPU, "core"}, {corev1.ResourceMemory, "byte"}, {corev1.ResourcePods, "integer"}}

// hostState is Ready, NotReady or Unknown, from the Ready condition the
// hub writes from the host's heartbeat.
func hostState(h *fleetv1.HostCluster) string {
	switch c := meta.FindStatusCondition(h.Status.Conditions, fleetv1.ConditionReady); {
	case c == nil:
		return "Unknown"
	case c.Status == "True":
		return "Ready"
	case c.Status == "False":
		return "NotReady"
	}
	return "Unknown"
}

// regions lists the hosts' regions, each once.
func regions(hosts []fleetv1.HostCluster) []string {
	seen := map[string]bool{}
	var out []string
	for i := range hosts {
		if r := hosts[i].Spec.Region; !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// Idle is what is reserved and not requested, per resource, never below
// zero: pods that request more than the quota (they cannot, the host's
// ResourceQuota refuses them, but an agent's report is not to be trusted)
// make a resource fully used, not a negative cost.
func Idle(reserved, requested corev1.ResourceList) corev1.ResourceList {
	idle := corev1.ResourceList{}
	for name, q := range reserved {
		left := q.DeepCopy()
		if r, ok := requested[name]; ok && r.Sign() > 0 {
			left.Sub(r)
		}
		if left.Sign() < 0 {
			left.Set(0)
		}
		idle[name] = left
	}
	return idle
}
