package virtualcluster

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
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
	fences = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vfleet_hub_fences_total",
		Help: "Epochs fenced on their store, by why (HostSilent, Failover or Migration asked, Resumed: a fence begun earlier carried through) and result (Fenced, Failed).",
	}, []string{"reason", "result"})
)

func init() {
	metrics.Registry.MustRegister(placements, placementSeconds, fences)
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
