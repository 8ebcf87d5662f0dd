package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/vfleet/vfleet/internal/kubeconfig"
)

// A control plane serves no metrics endpoint: its agent reads its
// metrics from a file in its data directory, as a node exporter reads a
// textfile collector's, and serves them with its own (authenticated and
// authorized, as every vfleet /metrics). So a control plane needs no
// port, no certificate and no account of anyone who scrapes it.
const metricsFile = "metrics.prom"

// MetricsPath is where the control plane in dataDir writes its metrics.
func MetricsPath(dataDir string) string { return filepath.Join(dataDir, metricsFile) }

// MetricsInterval is how often a control plane writes its metrics.
const MetricsInterval = 15 * time.Second

// apiserverRequests is the family a control plane derives from its
// apiserver's own apiserver_request_total.
const apiserverRequests = "vfleet_controlplane_apiserver_requests_total"

// exportMetrics writes the process's registry (its syncer's, and
// controller-runtime's of the syncer's controllers) and its apiserver's
// request counts into MetricsPath every MetricsInterval until ctx ends.
func (cp *ControlPlane) exportMetrics(ctx context.Context) {
	t := time.NewTicker(MetricsInterval)
	defer t.Stop()
	for {
		if err := cp.writeMetrics(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(cp.cfg.Log, "control plane %s: metrics: %v\n", cp.cfg.Name, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (cp *ControlPlane) writeMetrics(ctx context.Context) error {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return err
	}
	// Without the apiserver's counts, the rest still goes out.
	requests, rerr := cp.apiserverRequests(ctx)
	if requests != nil {
		families = append(families, requests)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	if err := replaceFile(MetricsPath(cp.cfg.DataDir), buf.Bytes()); err != nil {
		return err
	}
	return rerr
}

// apiserverRequests reads the apiserver's /metrics as its admin and sums
// apiserver_request_total by verb and code: the rest of its labels
// (resource, scope, component...) multiply the series of every vcluster.
func (cp *ControlPlane) apiserverRequests(ctx context.Context) (*dto.MetricFamily, error) {
	cfg, err := kubeconfig.RESTConfig(cp.Kubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 10 * time.Second
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := kube.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("the apiserver's metrics: %w", err)
	}
	return sumRequests(raw)
}

// sumRequests is apiserverRequests' sum over the text exposition raw.
func sumRequests(raw []byte) (*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("the apiserver's metrics: %w", err)
	}
	type key struct{ verb, code string }
	sums := map[key]float64{}
	for _, m := range families["apiserver_request_total"].GetMetric() {
		var k key
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "verb":
				k.verb = strings.ToUpper(l.GetValue())
			case "code":
				k.code = l.GetValue()
			}
		}
		sums[k] += m.GetCounter().GetValue()
	}
	out := &dto.MetricFamily{
		Name: proto.String(apiserverRequests), Type: dto.MetricType_COUNTER.Enum(),
		Help: proto.String("Requests the vcluster's apiserver answered, by verb and HTTP code, from its apiserver_request_total."),
	}
	for k, v := range sums {
		out.Metric = append(out.Metric, &dto.Metric{
			Label:   []*dto.LabelPair{{Name: proto.String("code"), Value: proto.String(k.code)}, {Name: proto.String("verb"), Value: proto.String(k.verb)}},
			Counter: &dto.Counter{Value: proto.Float64(v)},
		})
	}
	return out, nil
}
