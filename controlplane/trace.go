package controlplane

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/vfleet/vfleet/internal/tracing"
)

// The control plane's spans of the create or move it starts for, under
// Config.Traceparent: its store, its apiserver until ready, and its
// syncer until it has read both sides.
const (
	spanStore     = "Start store"
	spanAPIServer = "Start apiserver"
	spanFirstSync = "First sync"
)

// recordSpan records one step of the start, from start until now; err
// says why it failed. A start cut short by a stop is no failure.
func (cp *ControlPlane) recordSpan(ctx context.Context, name string, start time.Time, err error) {
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	tracing.Record(ctx, cp.cfg.Traceparent, tracing.Span{
		Name: name, Start: start, End: time.Now(), Err: err,
		Attributes: []attribute.KeyValue{attribute.String("vfleet.virtualcluster.name", cp.cfg.Name)},
	})
}
