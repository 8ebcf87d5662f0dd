package virtualcluster

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/tracing"
)

// The hub's spans of an operation (internal/tracing): the root, named
// for the operation, and these under it.
const (
	spanPlace          = "Place"
	spanFence          = "Fence"
	spanProvisionStore = "Provision store"
)

// rootSpanName is the name of the root span of an operation.
func rootSpanName(operation string) string { return "VirtualCluster " + operation }

// beginTrace is the trace of an operation that begins now at epoch from,
// counted from start, or nil when the hub records no traces.
func beginTrace(ctx context.Context, operation string, from int64, start time.Time) *fleetv1.OperationTrace {
	tp := tracing.NewRoot(ctx, rootSpanName(operation))
	if tp == "" {
		return nil
	}
	return &fleetv1.OperationTrace{Name: operation, Traceparent: tp, FromEpoch: from, StartTime: metav1.NewTime(start)}
}

// continueTrace is the trace of a move that begins now at epoch from: the
// one under way, if the vcluster was not Ready since its create or move
// began (a host lost while the vcluster was starting on it: it is still
// the same wait for the tenant), else a new one.
func continueTrace(ctx context.Context, vc *fleetv1.VirtualCluster, operation string, from int64, start time.Time) *fleetv1.OperationTrace {
	if t := vc.Status.Trace; t != nil {
		return t.DeepCopy()
	}
	return beginTrace(ctx, operation, from, start)
}

// attributes name vc, where it runs now, in every span of its trace.
func attributes(vc *fleetv1.VirtualCluster) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("vfleet.virtualcluster.namespace", vc.Namespace), attribute.String("vfleet.virtualcluster.name", vc.Name),
		attribute.String("vfleet.virtualcluster.uid", string(vc.UID)),
		attribute.String("vfleet.host", vc.Status.Host), attribute.Int64("vfleet.epoch", vc.Status.Epoch),
	}
}

// recordSpan records a step of vc's operation under way, from start to
// end; err says why it failed. Nothing is recorded outside an operation.
func recordSpan(ctx context.Context, vc *fleetv1.VirtualCluster, name string, start, end time.Time, err error) {
	if vc.Status.Trace == nil {
		return
	}
	tracing.Record(ctx, vc.Status.Trace.Traceparent, tracing.Span{Name: name, Start: start, End: end, Err: err, Attributes: attributes(vc)})
}

// endTrace records the root span of t, an operation of vc that ended at
// end; err says how it failed.
func endTrace(ctx context.Context, vc *fleetv1.VirtualCluster, t *fleetv1.OperationTrace, end time.Time, err error) {
	tracing.RecordRoot(ctx, t.Traceparent, tracing.Span{
		Name: rootSpanName(t.Name), Start: t.StartTime.Time, End: end, Err: err,
		Attributes: append(attributes(vc), attribute.Int64("vfleet.epoch.from", t.FromEpoch)),
	})
}

// traceEnded is the trace a status patch from before to after ended, and
// how the operation went; nil when it ended none.
func traceEnded(before, after *fleetv1.VirtualClusterStatus) (*fleetv1.OperationTrace, error) {
	t := before.Trace
	if t == nil || after.Trace != nil {
		return nil, nil
	}
	// The operation asked for failed (a migration that found no room
	// elsewhere, say), not an older one.
	if op := after.Operation; op != nil && op.Phase == fleetv1.OperationFailed && op.StartTime != nil && !op.StartTime.Before(&t.StartTime) {
		return t, errors.New(op.Message)
	}
	return t, nil
}

// traceDone clears the trace of s once the vcluster is Ready at a later
// epoch than the operation began at: the operation is over.
func traceDone(s *fleetv1.VirtualClusterStatus) {
	if t := s.Trace; t != nil && s.Phase == fleetv1.PhaseReady && s.Epoch > t.FromEpoch {
		s.Trace = nil
	}
}

// traceOfFence is the operation a fence for reason begins.
func traceOfFence(reason string) string {
	if reason == string(fleetv1.OperationMigration) {
		return fleetv1.TraceMigration
	}
	return fleetv1.TraceFailover
}

// moveStart is when the move a fence for reason begins at now began: when
// a person asked for it, or the last heartbeat of the silent host, which
// is where the tenant's wait began.
func (r *Reconciler) moveStart(vc *fleetv1.VirtualCluster, reason string, now time.Time) time.Time {
	if op := vc.Status.Operation; reason != fenceHostSilent && op != nil && op.StartTime != nil {
		return op.StartTime.Time
	}
	if seen, ok := r.Liveness.LastSeen(vc.Status.Host); ok && reason == fenceHostSilent {
		return seen
	}
	return now
}
