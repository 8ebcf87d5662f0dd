package agent

import (
	"bytes"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// relayed are the families of a control plane's metrics the agent serves,
// by their name there, and the name the agent serves each under. Nothing
// else is relayed: a control plane's registry holds client-go's and the
// Go runtime's too, which would multiply every host's series by its
// vclusters for little use.
var relayed = map[string]string{
	"workqueue_depth":                              "vfleet_syncer_queue_depth",
	"controller_runtime_reconcile_total":           "vfleet_syncer_syncs_total",
	"controller_runtime_reconcile_time_seconds":    "vfleet_syncer_sync_duration_seconds",
	"vfleet_syncer_errors_total":                   "vfleet_syncer_errors_total",
	"vfleet_syncer_refusals_total":                 "vfleet_syncer_refusals_total",
	"vfleet_syncer_objects":                        "vfleet_syncer_objects",
	"vfleet_controlplane_apiserver_requests_total": "vfleet_controlplane_apiserver_requests_total",
}

// The labels that say whose a relayed series is.
const (
	labelVClusterNamespace = "vcluster_namespace"
	labelVCluster          = "vcluster"
)

// metricsSource is a runtime that can hand over what a control plane
// last wrote of its metrics (the process runtime: a file in its
// directory). The kubernetes runtime's control planes, in pods, cannot.
type metricsSource interface {
	// Metrics is the text exposition the control plane name wrote, no
	// older than maxAge; ok is false for none.
	Metrics(name string, maxAge time.Duration) (data []byte, ok bool)
}

// relayCollector serves the control planes' relayed metrics, labelled
// with their vclusters, read at each scrape. It is unchecked (it
// describes nothing): which families a control plane has depends on
// what its syncer has met.
type relayCollector struct {
	reader client.Reader
	source metricsSource
}

func (relayCollector) Describe(chan<- *prometheus.Desc) {}

func (c relayCollector) Collect(ch chan<- prometheus.Metric) {
	cps, err := scrapeControlPlanes(c.reader)
	if err != nil {
		return
	}
	for i := range cps.Items {
		cp := &cps.Items[i]
		if cp.Status.Phase != fleetv1.ControlPlaneRunning {
			continue
		}
		// Written every 15 seconds by a live control plane: older is a
		// dead one's.
		data, ok := c.source.Metrics(cp.Name, time.Minute)
		if !ok {
			continue
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(bytes.NewReader(data))
		if err != nil {
			ctrl.Log.WithName("metrics").Error(err, "Unreadable metrics of a control plane", "controlPlane", cp.Name)
			continue
		}
		vc := cp.Spec.VirtualCluster
		for _, m := range relay(families, vc.Namespace, vc.Name) {
			ch <- m
		}
	}
}

// relay is what families, one control plane's, are served as: the
// relayed ones, renamed, with the vcluster's labels beside their own.
func relay(families map[string]*dto.MetricFamily, namespace, name string) []prometheus.Metric {
	var out []prometheus.Metric
	for from, to := range relayed {
		f, ok := families[from]
		if !ok {
			continue
		}
		for _, m := range f.GetMetric() {
			names := []string{labelVClusterNamespace, labelVCluster}
			values := []string{namespace, name}
			for _, l := range m.GetLabel() {
				if l.GetName() == labelVClusterNamespace || l.GetName() == labelVCluster {
					continue
				}
				names, values = append(names, l.GetName()), append(values, l.GetValue())
			}
			desc := prometheus.NewDesc(to, f.GetHelp(), names, nil)
			if pm, err := constMetric(desc, f.GetType(), m, values); err == nil {
				out = append(out, pm)
			}
		}
	}
	return out
}

// constMetric is m, of type t, as a metric of desc with label values.
func constMetric(desc *prometheus.Desc, t dto.MetricType, m *dto.Metric, values []string) (prometheus.Metric, error) {
	switch t {
	case dto.MetricType_COUNTER:
		return prometheus.NewConstMetric(desc, prometheus.CounterValue, m.GetCounter().GetValue(), values...)
	case dto.MetricType_GAUGE:
		return prometheus.NewConstMetric(desc, prometheus.GaugeValue, m.GetGauge().GetValue(), values...)
	case dto.MetricType_HISTOGRAM:
		h := m.GetHistogram()
		buckets := make(map[float64]uint64, len(h.GetBucket()))
		for _, b := range h.GetBucket() {
			buckets[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		return prometheus.NewConstHistogram(desc, h.GetSampleCount(), h.GetSampleSum(), buckets, values...)
	default:
		return nil, fmt.Errorf("%s: the agent relays counters, gauges and histograms", t)
	}
}
