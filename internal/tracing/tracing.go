// Package tracing follows a vcluster's create, failover and migration as
// one OpenTelemetry trace across the hub, the agent and the control plane.
//
// Those are level-triggered reconcilers: no one call lives as long as the
// operation, and none is sure to run in the process that saw it begin. So
// a trace is not held open in memory. The operation's root span gets its
// IDs when the operation begins (NewRoot); they are written down with the
// operation (the VirtualCluster's status, the ControlPlane's annotation,
// the control plane's environment) as a W3C traceparent; and every span is
// recorded after the fact, from its start to its end, under that parent
// (Record). The root itself is recorded when the operation ends, with the
// IDs it was given (RecordRoot), by whichever hub sees the end.
package tracing

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TraceparentEnv carries a traceparent into a process vfleet starts, as
// the OpenTelemetry convention for environment carriers names it.
const TraceparentEnv = "TRACEPARENT"

// instrumentation names the tracer of every vfleet span.
const instrumentation = "github.com/vfleet/vfleet"

// Enabled says whether the environment asks for traces: an OTLP endpoint,
// or OTEL_TRACES_EXPORTER=otlp, and not OTEL_SDK_DISABLED. With none of
// them a process exports nothing, rather than try localhost:4318 forever.
func Enabled(getenv func(string) string) (bool, error) {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false, nil
	}
	switch exporter := getenv("OTEL_TRACES_EXPORTER"); exporter {
	case "none":
		return false, nil
	case "otlp":
		return true, nil
	case "":
		return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "", nil
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: vfleet exports traces by otlp, or none", exporter)
	}
}

// Setup installs the process's tracer provider as the environment's
// OTEL_* variables configure it (endpoint, protocol, headers, sampler,
// resource), naming the service service unless OTEL_SERVICE_NAME does.
// Without them it installs nothing. The returned function flushes what is
// buffered and stops; call it on the way out.
func Setup(ctx context.Context, service string, getenv func(string) string) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	none := func(context.Context) error { return nil }
	on, err := Enabled(getenv)
	if err != nil || !on {
		return none, err
	}
	var exporter sdktrace.SpanExporter
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch protocol {
	case "", "http/protobuf":
		exporter, err = otlptracehttp.New(ctx)
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx)
	default:
		return none, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: vfleet exports by http/protobuf or grpc", protocol)
	}
	if err != nil {
		return none, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		// The environment's service name and attributes win over vfleet's.
		resource.WithFromEnv(), resource.WithHost(), resource.WithProcessPID())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return none, err
	}
	tp := NewProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// NewProvider is an SDK tracer provider with opts that can record a root
// span under the IDs NewRoot gave it. Setup makes the process's one; tests
// make theirs with an in-memory exporter.
func NewProvider(opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(append(opts, sdktrace.WithIDGenerator(ids{}))...)
}

// ids is the SDK's ID generator, save that a root span started under a
// context from preassign takes the IDs given there.
type ids struct{}

type preassignedKey struct{}

func preassign(ctx context.Context, sc trace.SpanContext) context.Context {
	return context.WithValue(trace.ContextWithSpanContext(ctx, trace.SpanContext{}), preassignedKey{}, sc)
}

func (ids) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if sc, ok := ctx.Value(preassignedKey{}).(trace.SpanContext); ok {
		return sc.TraceID(), sc.SpanID()
	}
	var t trace.TraceID
	binary.BigEndian.PutUint64(t[:8], rand.Uint64())
	binary.BigEndian.PutUint64(t[8:], rand.Uint64())
	return t, randomSpanID()
}

func (ids) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return randomSpanID() }

func randomSpanID() trace.SpanID {
	var s trace.SpanID
	for !s.IsValid() {
		binary.BigEndian.PutUint64(s[:], rand.Uint64())
	}
	return s
}

func tracer() trace.Tracer { return otel.Tracer(instrumentation) }

// NewRoot gives the root span of an operation that begins now its IDs, as
// a traceparent, before the span is recorded. Whether the trace is sampled
// is decided here, by the process's sampler, as for any new root. It is ""
// when the process records no traces.
func NewRoot(ctx context.Context, name string) string {
	// A span started and never ended is exported nowhere: it is asked
	// for only to have the sampler decide and the generator pick IDs.
	_, probe := tracer().Start(trace.ContextWithSpanContext(ctx, trace.SpanContext{}), name, trace.WithNewRoot())
	sc := probe.SpanContext()
	if !sc.IsValid() {
		return ""
	}
	return Format(sc)
}

// Format writes sc as a W3C traceparent.
func Format(sc trace.SpanContext) string {
	return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}

// Parse reads a W3C traceparent. Anything else, which a hostile or
// mistaken writer may have put where one belongs, is false.
func Parse(traceparent string) (trace.SpanContext, bool) {
	if len(traceparent) != len("00-")+32+1+16+1+2 {
		return trace.SpanContext{}, false
	}
	carrier := propagation.MapCarrier{"traceparent": traceparent}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), carrier))
	return sc, sc.IsValid()
}

// Span is a finished piece of an operation, recorded under its parent.
type Span struct {
	Name       string
	Start, End time.Time
	// Err marks the span failed, with its message.
	Err        error
	Attributes []attribute.KeyValue
}

// Record records s as a child of the span traceparent names. Nothing is
// recorded for a traceparent that is empty or not one, or not sampled.
func Record(ctx context.Context, traceparent string, s Span) {
	parent, ok := Parse(traceparent)
	if !ok || !parent.IsSampled() {
		return
	}
	record(trace.ContextWithRemoteSpanContext(ctx, parent), s)
}

// RecordRoot records s as the root span traceparent names, with the IDs
// NewRoot gave it. It needs the provider NewProvider makes.
func RecordRoot(ctx context.Context, traceparent string, s Span) {
	root, ok := Parse(traceparent)
	if !ok || !root.IsSampled() {
		return
	}
	record(preassign(ctx, root), s, trace.WithNewRoot())
}

func record(ctx context.Context, s Span, opts ...trace.SpanStartOption) {
	opts = append(opts, trace.WithTimestamp(s.Start), trace.WithAttributes(s.Attributes...))
	_, span := tracer().Start(ctx, s.Name, opts...)
	if s.Err != nil {
		span.SetStatus(codes.Error, s.Err.Error())
	}
	span.End(trace.WithTimestamp(s.End))
}
