package virtualcluster

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/placement"
)

// What the hub decided, counted as it decides it. The fleet's state (hosts,
// vclusters by phase, cost) is read from the objects at scrape time
// (hub/fleetmetrics); these are the events between two scrapes.
var (
	placements = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vfleet_hub_placements_total",
		Help: "Placement decisions by kind (Initial, or the move's: Failover, Migration, Drain) and result (Placed, Unschedulable, Spilled to another region).",
	}, []string{"kind", "result"})
	placementSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vfleet_hub_placement_duration_seconds",
		Help:    "How long the placement engine took to decide, by kind.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs to 26s
	}, []string{"kind"})
	rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vfleet_hub_placement_rejections_total",
		Help: "Hosts ruled out in placement decisions that found none, by kind and by the filter that ruled each out (a placement plugin's name; Region for regions not allowed, Excluded for the host a move leaves).",
	}, []string{"kind", "filter"})
	recoverySeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vfleet_hub_failover_rto_seconds",
		Help:    "From a failover's start to the vcluster Ready on another host: for a host that went silent, from the hub's last sight of its heartbeat; for a failover asked, from the ask. By trigger (HostSilent, Asked).",
		Buckets: prometheus.ExponentialBuckets(1, 1.6, 14), // 1s to 7.5min
	}, []string{"trigger"})
	migrationSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vfleet_hub_migration_downtime_seconds",
		Help:    "From a migration's start (its old control plane told to stop) to the vcluster Ready on its new host.",
		Buckets: prometheus.ExponentialBuckets(0.5, 1.6, 14), // 0.5s to 3.7min
	})
	storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vfleet_hub_store_provisioning_errors_total",
		Help: "Failed attempts to provision a vcluster's space and login on a BackingStore, by store and driver.",
	}, []string{"store", "driver"})
	fences = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vfleet_hub_fences_total",
		Help: "Epochs fenced on their store, by why (HostSilent, Failover or Migration asked, Resumed: a fence begun earlier carried through) and result (Fenced, Failed).",
	}, []string{"reason", "result"})
)

func init() {
	metrics.Registry.MustRegister(placements, placementSeconds, fences, recoverySeconds, migrationSeconds, storeErrors, rejections)
}

// Results and fence reasons, the label values above.
const (
	resultPlaced        = "Placed"
	resultUnschedulable = "Unschedulable"
	resultSpilled       = "Spilled"
	resultFenced        = "Fenced"
	resultFailed        = "Failed"

	fenceHostSilent = "HostSilent"
	fenceResumed    = "Resumed"
)

// placementKind bounds a placement's reason to the known kinds: an
// operation's reason is a person's word, and a label takes none.
func placementKind(reason string) string {
	switch reason {
	case fleetv1.PlacementInitial, fleetv1.PlacementFailover, fleetv1.PlacementMigration, fleetv1.PlacementDrain:
		return reason
	}
	return "Other"
}

// timed runs decide and observes how long it took under kind.
func timed[T any](kind string, decide func() (T, error)) (T, error) {
	start := time.Now()
	v, err := decide()
	placementSeconds.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	return v, err
}

// Triggers of a failover, the label values of its RTO.
const (
	triggerHostSilent = "HostSilent"
	triggerAsked      = "Asked"
)

// moveTook says, for a status patch from before to after at now, whether
// it made a moved vcluster Ready again, and how long the move took: a
// migration (migration true), or a failover and what triggered it.
// lastSeen is when the hub last saw a host's heartbeat. A failover of a
// silent host whose last heartbeat this hub never saw (it restarted
// since) is not timed rather than timed wrong.
func moveTook(before, after *fleetv1.VirtualClusterStatus, now time.Time, lastSeen func(host string) (time.Time, bool)) (took time.Duration, migration bool, trigger string, ok bool) {
	h := after.PlacementHistory
	if after.Phase != fleetv1.PhaseReady || before.Phase == fleetv1.PhaseReady || len(h) < 2 || h[len(h)-1].Epoch != after.Epoch {
		return 0, false, "", false
	}
	if was, op := before.Operation, after.Operation; was != nil && op != nil && was.ID == op.ID &&
		was.Phase == fleetv1.OperationInProgress && op.Phase == fleetv1.OperationSucceeded && op.StartTime != nil {
		return now.Sub(op.StartTime.Time), op.Type == fleetv1.OperationMigration, triggerAsked, true
	}
	if h[len(h)-1].Reason != fleetv1.PlacementFailover || after.Operation != nil && after.Operation.Phase == fleetv1.OperationInProgress {
		return 0, false, "", false
	}
	seen, known := lastSeen(h[len(h)-2].Host)
	if !known {
		return 0, false, "", false
	}
	return now.Sub(seen), false, triggerHostSilent, true
}

// observeMove records how long a move that just ended took.
func observeMove(before, after *fleetv1.VirtualClusterStatus, now time.Time, lastSeen func(string) (time.Time, bool)) {
	took, migration, trigger, ok := moveTook(before, after, now, lastSeen)
	switch {
	case !ok:
	case migration:
		migrationSeconds.Observe(took.Seconds())
	default:
		recoverySeconds.WithLabelValues(trigger).Observe(took.Seconds())
	}
}

// countUnschedulable counts a decision of kind that found no host.
func countUnschedulable(kind string, u *placement.Unschedulable) {
	placements.WithLabelValues(kind, resultUnschedulable).Inc()
	for filter, n := range u.ByFilter {
		rejections.WithLabelValues(kind, filter).Add(float64(n))
	}
}
