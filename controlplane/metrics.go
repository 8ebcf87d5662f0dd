package controlplane

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
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
// The first write, at the start, leaves the apiserver's counts out: it has
// answered little yet, and its start is when its CPU is dearest (a host
// taking over a lost region's vclusters starts many at once).
func (cp *ControlPlane) exportMetrics(ctx context.Context) {
	t := time.NewTicker(MetricsInterval)
	defer t.Stop()
	var kube kubernetes.Interface
	for {
		if err := cp.writeMetrics(ctx, kube); err != nil && ctx.Err() == nil {
			fmt.Fprintf(cp.cfg.Log, "control plane %s: metrics: %v\n", cp.cfg.Name, err)
			// Made again for the next read: its credentials may have
			// been renewed since (keepCertificates).
			kube = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if kube == nil {
			// One client, and so one connection, for every read.
			var err error
			if kube, err = cp.adminClient(); err != nil {
				fmt.Fprintf(cp.cfg.Log, "control plane %s: metrics: %v\n", cp.cfg.Name, err)
			}
		}
	}
}

func (cp *ControlPlane) adminClient() (kubernetes.Interface, error) {
	cfg, err := kubeconfig.RESTConfig(cp.Kubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 10 * time.Second
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		// Not a nil *Clientset in a non-nil interface.
		return nil, err
	}
	return kube, nil
}

// writeMetrics writes the registry, and the apiserver's request counts
// when kube is not nil.
func (cp *ControlPlane) writeMetrics(ctx context.Context, kube kubernetes.Interface) error {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return err
	}
	// Without the apiserver's counts, the rest still goes out.
	var rerr error
	if kube != nil {
		var requests *dto.MetricFamily
		requests, rerr = apiserverRequestsOf(ctx, kube)
		if requests != nil {
			families = append(families, requests)
		}
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

// apiserverRequestsOf reads the apiserver's /metrics as its admin and
// sums apiserver_request_total by verb and code: the rest of its labels
// (resource, scope, component...) multiply the series of every vcluster.
func apiserverRequestsOf(ctx context.Context, kube kubernetes.Interface) (*dto.MetricFamily, error) {
	body, err := kube.Discovery().RESTClient().Get().AbsPath("/metrics").Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("the apiserver's metrics: %w", err)
	}
	defer func() { _ = body.Close() }()
	return sumRequests(body)
}

// requestsFamily is the family sumRequests reads.
const requestsFamily = "apiserver_request_total"

// requestsLines are how that family's lines begin: its samples, with
// labels or without, and its HELP and TYPE.
var requestsLines = [][]byte{
	[]byte(requestsFamily + "{"), []byte(requestsFamily + " "),
	[]byte("# HELP " + requestsFamily + " "), []byte("# TYPE " + requestsFamily + " "),
}

// sumRequests is apiserverRequestsOf's sum over the text exposition in r.
// Only that family's lines are parsed: an apiserver's exposition is over a
// megabyte, of which they are a few kilobytes.
func sumRequests(r io.Reader) (*dto.MetricFamily, error) {
	var lines bytes.Buffer
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if slices.ContainsFunc(requestsLines, func(p []byte) bool { return bytes.HasPrefix(line, p) }) {
			lines.Write(line)
			lines.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("the apiserver's metrics: %w", err)
	}
	if lines.Len() == 0 {
		return nil, fmt.Errorf("the apiserver's metrics have no %s", requestsFamily)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(&lines)
	if err != nil {
		return nil, fmt.Errorf("the apiserver's metrics: %w", err)
	}
	type key struct{ verb, code string }
	sums := map[key]float64{}
	for _, m := range families[requestsFamily].GetMetric() {
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
