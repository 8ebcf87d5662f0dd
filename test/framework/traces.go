package framework

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// ReceivedSpan is a span a lab process exported.
type ReceivedSpan struct {
	// Service is its process's service.name: vfleet-hub, vfleet-agent,
	// vfleet-controlplane.
	Service                       string
	Name                          string
	TraceID, SpanID, ParentSpanID string
	Start, End                    time.Time
	// Error is the span's error status message; "" for none.
	Error      string
	Attributes map[string]string
}

// TraceReceiver takes the spans the lab's processes export, as an OTLP
// collector's HTTP receiver does, and keeps them for the suite to look at.
type TraceReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []ReceivedSpan
}

// StartTraceReceiver listens on a loopback port until Close.
func StartTraceReceiver() *TraceReceiver {
	r := &TraceReceiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.export)
	r.srv = httptest.NewServer(mux)
	return r
}

// Endpoint is the receiver's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT.
func (r *TraceReceiver) Endpoint() string { return r.srv.URL }

// Close stops listening.
func (r *TraceReceiver) Close() { r.srv.Close() }

// Trace is the spans received of traceID (hex).
func (r *TraceReceiver) Trace(traceID string) []ReceivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ReceivedSpan
	for _, s := range r.spans {
		if s.TraceID == traceID {
			out = append(out, s)
		}
	}
	return out
}

func (r *TraceReceiver) export(w http.ResponseWriter, req *http.Request) {
	var body io.Reader = http.MaxBytesReader(w, req.Body, 64<<20)
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer func() { _ = gz.Close() }()
		body = gz
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var in coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []ReceivedSpan
	for _, rs := range in.GetResourceSpans() {
		service := attributes(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, received(service, s))
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func received(service string, s *tracepb.Span) ReceivedSpan {
	out := ReceivedSpan{
		Service: service, Name: s.GetName(),
		TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
		Start: time.Unix(0, int64(s.GetStartTimeUnixNano())), End: time.Unix(0, int64(s.GetEndTimeUnixNano())), //nolint:gosec // nanoseconds since 1970 fit
		Attributes: attributes(s.GetAttributes()),
	}
	if p := s.GetParentSpanId(); len(p) > 0 {
		out.ParentSpanID = hex.EncodeToString(p)
	}
	if s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
		out.Error = s.GetStatus().GetMessage()
	}
	return out
}

// attributes are kvs as strings, each value as OTLP's string form of it.
func attributes(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(x.IntValue, 10)
		default:
			m[kv.GetKey()] = v.String()
		}
	}
	return m
}

// ExpectTrace waits until the trace of vc's latest create or move (the
// one its current ControlPlane carries) has every span of want, each from
// the process want names, with the root, root, recorded by the hub with
// the IDs it handed out and every other span directly under it, none
// failed. It returns the spans by name.
func (s *LabSuite) ExpectTrace(ctx context.Context, vc *fleetv1.VirtualCluster, root string, want map[string]string) map[string]ReceivedSpan {
	GinkgoHelper()
	cp := &fleetv1.ControlPlane{}
	Expect(s.Mgmt.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: vc.Name + "." + vc.Namespace}, cp)).To(Succeed())
	traceparent := cp.Annotations[fleetv1.AnnotationTraceparent]
	parts := strings.Split(traceparent, "-")
	Expect(parts).To(HaveLen(4), "the ControlPlane's traceparent %q", traceparent)
	var spans map[string]ReceivedSpan
	Eventually(func(g Gomega) {
		spans = map[string]ReceivedSpan{}
		for _, sp := range s.Traces.Trace(parts[1]) {
			if sp.Error != "" && sp.ParentSpanID != "" {
				// A step that failed and was retried (a fence whose
				// store did not answer in time): an error span of its
				// own, before the attempt that succeeded.
				g.Expect(sp.ParentSpanID).To(Equal(parts[2]), "failed attempt %q is not under the root", sp.Name)
				continue
			}
			g.Expect(spans).NotTo(HaveKey(sp.Name), "span %q twice", sp.Name)
			spans[sp.Name] = sp
		}
		g.Expect(spans).To(HaveKey(root))
		for name := range want {
			g.Expect(spans).To(HaveKey(name))
		}
	}).WithContext(ctx).WithTimeout(30*time.Second).WithPolling(500*time.Millisecond).Should(Succeed(), "trace %s", parts[1])
	r := spans[root]
	Expect(r.Service).To(Equal("vfleet-hub"))
	Expect(r.ParentSpanID).To(BeEmpty())
	Expect(r.SpanID).To(Equal(parts[2]), "the root is recorded with the IDs the hub handed out")
	Expect(r.Error).To(BeEmpty())
	Expect(r.Attributes).To(HaveKeyWithValue("vfleet.virtualcluster.name", vc.Name))
	for name, service := range want {
		sp := spans[name]
		Expect(sp.Service).To(Equal(service), "span %q", name)
		Expect(sp.Error).To(BeEmpty(), "span %q", name)
		Expect(sp.ParentSpanID).To(Equal(r.SpanID), "span %q is not under the root", name)
	}
	return spans
}
