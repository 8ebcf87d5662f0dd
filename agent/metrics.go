package agent

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/vfleet/vfleet/agent/runtime"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/tracing"
)

// The agent's metrics: what it runs (read from its cache at scrape time),
// and what happened between two scrapes (counted as it happens).
var (
	restarts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vfleet_agent_controlplane_restarts_total",
		Help: "Crashed control-plane processes the agent started again.",
	})
	readySeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vfleet_agent_controlplane_ready_seconds",
		Help:    "From a ControlPlane's creation to its apiserver answering, for each that came up without a restart.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 10), // 0.5s to 256s
	})
	selfFences = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vfleet_agent_self_fences_total",
		Help: "Times the agent stopped every control plane because its Lease went unrenewed for --self-fence-after.",
	})
	hostCapacity = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vfleet_agent_host_capacity",
		Help: "The host's capacity as the agent last reported it to the hub, by kind (allocatable, committed, used) and resource.",
	}, []string{"kind", "resource", "unit"})
	descControlPlanes = prometheus.NewDesc("vfleet_agent_controlplanes",
		"ControlPlanes the hub placed on this host, by phase.", []string{"phase"}, nil)
)

// registerMetrics registers the agent's metrics, its ControlPlanes read
// through reader, on the registry the manager serves, and the metrics of
// its control planes, when its runtime can read them.
func registerMetrics(reader client.Reader, rt runtime.Runtime) error {
	registerCounters()
	if err := metrics.Registry.Register(controlPlaneCollector{reader: reader}); err != nil {
		return err
	}
	if src, ok := rt.(metricsSource); ok {
		return metrics.Registry.Register(relayCollector{reader: reader, source: src})
	}
	return nil
}

var registerCounters = sync.OnceFunc(func() {
	metrics.Registry.MustRegister(restarts, readySeconds, selfFences, hostCapacity)
})

// controlPlaneCollector counts the host's ControlPlanes by phase, from
// the agent's cache.
type controlPlaneCollector struct{ reader client.Reader }

func (c controlPlaneCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descControlPlanes }

func (c controlPlaneCollector) Collect(ch chan<- prometheus.Metric) {
	cps, err := scrapeControlPlanes(c.reader)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descControlPlanes, err)
		return
	}
	by := map[fleetv1.ControlPlanePhase]int{}
	for _, phase := range []fleetv1.ControlPlanePhase{fleetv1.ControlPlanePending, fleetv1.ControlPlaneStarting, fleetv1.ControlPlaneRunning, fleetv1.ControlPlaneSleeping, fleetv1.ControlPlaneStopped, fleetv1.ControlPlaneFailed} {
		by[phase] = 0
	}
	for i := range cps.Items {
		phase := cps.Items[i].Status.Phase
		if phase == "" {
			phase = fleetv1.ControlPlanePending
		}
		by[phase]++
	}
	for phase, n := range by {
		ch <- prometheus.MustNewConstMetric(descControlPlanes, prometheus.GaugeValue, float64(n), string(phase))
	}
}

// scrapeControlPlanes reads the host's ControlPlanes from the agent's
// cache for a scrape, which must not hang on it.
func scrapeControlPlanes(reader client.Reader) (*fleetv1.ControlPlaneList, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cps := &fleetv1.ControlPlaneList{}
	if err := reader.List(ctx, cps); err != nil {
		ctrl.Log.WithName("metrics").Error(err, "Cannot read the ControlPlanes for a scrape")
		return nil, err
	}
	return cps, nil
}

// observeReport counts what changed between a ControlPlane's last status
// (before) and the one being written: restarts, and the time to Ready of
// one that came up without any.
func observeReport(before, now *fleetv1.ControlPlane, at time.Time) {
	if d := now.Status.Restarts - before.Status.Restarts; d > 0 {
		restarts.Add(float64(d))
	}
	if now.Status.Phase == fleetv1.ControlPlaneRunning && before.Status.Phase != fleetv1.ControlPlaneRunning && now.Status.Restarts == 0 {
		readySeconds.Observe(max(at.Sub(now.CreationTimestamp.Time), 0).Seconds())
	}
}

// setHostCapacity records the report sent to the hub.
func setHostCapacity(r Report) {
	for kind, l := range map[string]corev1.ResourceList{"allocatable": r.Allocatable, "committed": r.Committed, "used": r.Used} {
		for name, unit := range map[corev1.ResourceName]string{corev1.ResourceCPU: "core", corev1.ResourceMemory: "byte", corev1.ResourcePods: "integer"} {
			if q, ok := l[name]; ok {
				hostCapacity.WithLabelValues(kind, string(name), unit).Set(q.AsApproximateFloat64())
			}
		}
	}
}

// spanStart is the agent's span of a create or move: from when it first
// reported the control plane of the epoch not ready until it runs.
const spanStart = "Start control plane"

// traceReport records, when the report from before to now says the
// control plane of a create or move runs, the agent's part of that
// operation's trace, named by the ControlPlane's annotation. It begins
// when the agent last reported the control plane not ready, its
// creation if it never did.
func traceReport(ctx context.Context, before, now *fleetv1.ControlPlane, at time.Time) {
	tp := now.Annotations[fleetv1.AnnotationTraceparent]
	if tp == "" || !runningAtItsEpoch(now) || runningAtItsEpoch(before) {
		return
	}
	start := now.CreationTimestamp.Time
	if c := meta.FindStatusCondition(before.Status.Conditions, fleetv1.ConditionReady); c != nil && c.Status == metav1.ConditionFalse && c.LastTransitionTime.After(start) {
		start = c.LastTransitionTime.Time
	}
	tracing.Record(ctx, tp, tracing.Span{Name: spanStart, Start: start, End: at, Attributes: []attribute.KeyValue{
		attribute.String("vfleet.controlplane.namespace", now.Namespace), attribute.String("vfleet.controlplane.name", now.Name),
		attribute.Int64("vfleet.epoch", now.Spec.Epoch), attribute.Int("vfleet.restarts", int(now.Status.Restarts)),
	}})
}
