// Package tracingtest records the spans a test's code makes, in memory,
// with the OpenTelemetry SDK's own exporter.
package tracingtest

import (
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/vfleet/vfleet/internal/tracing"
)

// Record installs, for the rest of t, a process tracer provider as
// tracing.Setup makes one, over opts, that keeps every ended span in
// memory; afterwards the process records nothing again. Tests that call
// it must not run in parallel: the provider is the process's.
func Record(t testing.TB, opts ...sdktrace.TracerProviderOption) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	otel.SetTracerProvider(tracing.NewProvider(append(opts, sdktrace.WithSyncer(exp))...))
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	return exp
}

// ByName indexes spans by name; the last of a name wins.
func ByName(spans tracetest.SpanStubs) map[string]tracetest.SpanStub {
	m := make(map[string]tracetest.SpanStub, len(spans))
	for _, s := range spans {
		m[s.Name] = s
	}
	return m
}
