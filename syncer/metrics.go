package syncer

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/vfleet/vfleet/apis"
)

// The syncer's own metrics, beside controller-runtime's of each of its
// controllers (sync-<kind>: queue depth, sync latency, results), in the
// registry its process serves.
var (
	refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vfleet_syncer_refusals_total",
		Help: "Virtual objects the syncer kept off the host because the vcluster's class forbids them, by kind and reason.",
	}, []string{"kind", "reason"})
	syncErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vfleet_syncer_errors_total",
		Help: "Syncs that failed, by kind and reason (the API's reason for a refused request: Forbidden, Invalid...; Other for the rest).",
	}, []string{"kind", "reason"})
	descObjects = prometheus.NewDesc("vfleet_syncer_objects",
		"Host objects the syncer made and keeps, by kind.", []string{"kind"}, nil)

	// running are the syncers of this process, which the objects
	// collector counts: one, but for tests.
	running sync.Map // *objectCounter -> struct{}
)

func init() {
	metrics.Registry.MustRegister(refusals, syncErrors, objectsCollector{})
}

// errorReason is the bounded reason of a failed sync: the API status
// reason when there is one.
func errorReason(err error) string {
	if r := apierrors.ReasonForError(err); r != "" {
		return string(r)
	}
	return "Other"
}

// objectCounter counts one syncer's host objects of each kind it syncs.
type objectCounter struct {
	host      client.Reader
	resources []Resource
}

type objectsCollector struct{}

func (objectsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descObjects }

// Collect lists the syncers' host caches: in memory, and only what each
// syncer marked as its own.
func (objectsCollector) Collect(ch chan<- prometheus.Metric) {
	by := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	running.Range(func(k, _ any) bool {
		c := k.(*objectCounter)
		for _, r := range c.resources {
			if n, ok := c.count(ctx, r); ok {
				by[r.Kind()] += n
			}
		}
		return true
	})
	for kind, n := range by {
		ch <- prometheus.MustNewConstMetric(descObjects, prometheus.GaugeValue, float64(n), kind)
	}
}

// count is how many host objects of r's kind the syncer holds.
func (c *objectCounter) count(ctx context.Context, r Resource) (int, bool) {
	obj := r.NewObject()
	gvk, err := apiutil.GVKForObject(obj, apis.Scheme())
	if err != nil {
		return 0, false
	}
	gvk.Kind += "List"
	list, err := apis.Scheme().New(gvk)
	if err != nil {
		return 0, false
	}
	l, ok := list.(client.ObjectList)
	if !ok || c.host.List(ctx, l) != nil {
		return 0, false
	}
	return meta.LenList(l), true
}
