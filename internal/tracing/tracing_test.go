package tracing_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/vfleet/vfleet/internal/tracing"
	"github.com/vfleet/vfleet/internal/tracing/tracingtest"
)

func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    bool
		wantErr bool
	}{
		{"nothing set: off", nil, false, false},
		{"an endpoint: on", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true, false},
		{"a traces endpoint: on", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true, false},
		{"otlp asked, default endpoint: on", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, false},
		{"none wins over an endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, false},
		{"SDK disabled wins", map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}, false, false},
		{"an exporter vfleet lacks: an error", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tracing.Enabled(func(k string) string { return tc.env[k] })
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("Enabled = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestSetupRefusesAProtocolItCannotSpeak(t *testing.T) {
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
	if _, err := tracing.Setup(context.Background(), "test", func(k string) string { return env[k] }); err == nil {
		t.Fatal("Setup took http/json")
	}
}

func TestParse(t *testing.T) {
	const good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if sc, ok := tracing.Parse(good); !ok || tracing.Format(sc) != good {
		t.Errorf("tracing.Parse(%q) = %v, %v; does not round-trip", good, sc, ok)
	}
	for _, bad := range []string{
		"", "garbage", good + "-extra", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
	} {
		if _, ok := tracing.Parse(bad); ok {
			t.Errorf("tracing.Parse(%q) took it", bad)
		}
	}
}

func TestAnOperationIsOneTrace(t *testing.T) {
	exp := tracingtest.Record(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	root := tracing.NewRoot(ctx, "create")
	if _, ok := tracing.Parse(root); !ok {
		t.Fatalf("NewRoot = %q, not a traceparent", root)
	}
	if len(exp.GetSpans()) != 0 {
		t.Fatalf("NewRoot exported %d spans; the root is recorded when the operation ends", len(exp.GetSpans()))
	}
	tracing.Record(ctx, root, tracing.Span{Name: "place", Start: t0, End: t0.Add(time.Second)})
	tracing.Record(ctx, root, tracing.Span{Name: "fence", Start: t0.Add(time.Second), End: t0.Add(2 * time.Second), Err: errors.New("store down")})
	tracing.RecordRoot(ctx, root, tracing.Span{Name: "create", Start: t0, End: t0.Add(10 * time.Second)})

	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	want, _ := tracing.Parse(root)
	byName := tracingtest.ByName(spans)
	for _, s := range spans {
		if s.SpanContext.TraceID() != want.TraceID() {
			t.Errorf("span %s is in trace %s, want %s", s.Name, s.SpanContext.TraceID(), want.TraceID())
		}
	}
	r := byName["create"]
	if r.SpanContext.SpanID() != want.SpanID() || r.Parent.IsValid() {
		t.Errorf("root: span %s parent %v; want span %s and no parent", r.SpanContext.SpanID(), r.Parent, want.SpanID())
	}
	if !r.StartTime.Equal(t0) || !r.EndTime.Equal(t0.Add(10*time.Second)) {
		t.Errorf("root ran %s..%s, want the operation's start and end", r.StartTime, r.EndTime)
	}
	for _, name := range []string{"place", "fence"} {
		if s := byName[name]; s.Parent.SpanID() != want.SpanID() {
			t.Errorf("%s's parent is %s, want the root %s", name, s.Parent.SpanID(), want.SpanID())
		}
	}
	if s := byName["fence"]; s.Status.Code != codes.Error || s.Status.Description != "store down" {
		t.Errorf("fence status %+v, want the error", s.Status)
	}
}

func TestNothingIsRecordedUnderABadOrUnsampledParent(t *testing.T) {
	exp := tracingtest.Record(t, sdktrace.WithSampler(sdktrace.NeverSample()))
	ctx := context.Background()
	root := tracing.NewRoot(ctx, "create")
	if sc, ok := tracing.Parse(root); !ok || sc.IsSampled() {
		t.Fatalf("NewRoot under a sampler that samples nothing = %q, want an unsampled traceparent", root)
	}
	now := time.Now()
	for _, parent := range []string{root, "", "not-a-traceparent"} {
		tracing.Record(ctx, parent, tracing.Span{Name: "place", Start: now, End: now})
		tracing.RecordRoot(ctx, parent, tracing.Span{Name: "create", Start: now, End: now})
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans recorded", n)
	}
}

func TestNoProviderNoRoot(t *testing.T) {
	otel.SetTracerProvider(noop.NewTracerProvider())
	if root := tracing.NewRoot(context.Background(), "create"); root != "" {
		t.Errorf("NewRoot without a provider = %q, want none", root)
	}
}
