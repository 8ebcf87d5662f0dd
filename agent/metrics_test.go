package agent

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/tracing"
	"github.com/vfleet/vfleet/internal/tracing/tracingtest"
)

func readyCount(t *testing.T) uint64 {
	t.Helper()
	var m dto.Metric
	if err := readySeconds.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func TestObserveReport(t *testing.T) {
	created := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	cp := func(phase fleetv1.ControlPlanePhase, restarts int32) *fleetv1.ControlPlane {
		return &fleetv1.ControlPlane{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)},
			Status: fleetv1.ControlPlaneStatus{Phase: phase, Restarts: restarts}}
	}
	for _, tc := range []struct {
		name          string
		before, now   *fleetv1.ControlPlane
		restarts      float64
		readyObserved uint64
	}{
		{"starting: nothing", cp("", 0), cp(fleetv1.ControlPlaneStarting, 0), 0, 0},
		{"first Ready: timed", cp(fleetv1.ControlPlaneStarting, 0), cp(fleetv1.ControlPlaneRunning, 0), 0, 1},
		{"still Running: not timed again", cp(fleetv1.ControlPlaneRunning, 0), cp(fleetv1.ControlPlaneRunning, 0), 0, 0},
		{"a crash restarted", cp(fleetv1.ControlPlaneRunning, 0), cp(fleetv1.ControlPlaneStarting, 1), 1, 0},
		{"Ready again after restarts: not a creation's time", cp(fleetv1.ControlPlaneStarting, 1), cp(fleetv1.ControlPlaneRunning, 3), 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restartsBefore, readyBefore := testutil.ToFloat64(restarts), readyCount(t)
			observeReport(tc.before, tc.now, created.Add(5*time.Second))
			if got := testutil.ToFloat64(restarts) - restartsBefore; got != tc.restarts {
				t.Errorf("restarts counted %v, want %v", got, tc.restarts)
			}
			if got := readyCount(t) - readyBefore; got != tc.readyObserved {
				t.Errorf("ready times observed %d, want %d", got, tc.readyObserved)
			}
		})
	}
}

func TestSetHostCapacity(t *testing.T) {
	setHostCapacity(Report{Allocatable: list("16", "64Gi", 220), Used: list("500m", "1Gi", 3)})
	for _, tc := range []struct {
		kind, resource, unit string
		want                 float64
	}{
		{"allocatable", "cpu", "core", 16},
		{"allocatable", "memory", "byte", 64 << 30},
		{"used", "cpu", "core", 0.5},
		{"used", "pods", "integer", 3},
	} {
		if got := testutil.ToFloat64(hostCapacity.WithLabelValues(tc.kind, tc.resource, tc.unit)); got != tc.want {
			t.Errorf("%s %s = %v, want %v", tc.kind, tc.resource, got, tc.want)
		}
	}
}

func TestTraceReport(t *testing.T) {
	const op = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	created := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	notReadySince := created.Add(2 * time.Second)
	at := created.Add(9 * time.Second)
	cp := func(annotated bool, phase fleetv1.ControlPlanePhase, epoch int64) *fleetv1.ControlPlane {
		c := &fleetv1.ControlPlane{
			ObjectMeta: metav1.ObjectMeta{Name: "vc.tenant", Namespace: "vfleet-host-a", CreationTimestamp: metav1.NewTime(created)},
			Spec:       fleetv1.ControlPlaneSpec{Epoch: 2},
			Status: fleetv1.ControlPlaneStatus{Phase: phase, Epoch: epoch, Conditions: []metav1.Condition{{
				Type: fleetv1.ConditionReady, Status: metav1.ConditionFalse, LastTransitionTime: metav1.NewTime(notReadySince),
			}}},
		}
		if phase == fleetv1.ControlPlaneRunning {
			c.Status.Conditions[0].Status = metav1.ConditionTrue
		}
		if annotated {
			c.Annotations = map[string]string{fleetv1.AnnotationTraceparent: op}
		}
		return c
	}
	for _, tc := range []struct {
		name        string
		before, now *fleetv1.ControlPlane
		want        bool
		wantStart   time.Time
	}{
		{"runs at its epoch: recorded from when it was reported not ready", cp(true, fleetv1.ControlPlaneStarting, 2), cp(true, fleetv1.ControlPlaneRunning, 2), true, notReadySince},
		{"ran at the epoch before (a move back here), never reported not ready: from its creation", cp(true, fleetv1.ControlPlaneRunning, 1), cp(true, fleetv1.ControlPlaneRunning, 2), true, created},
		{"still running: not again", cp(true, fleetv1.ControlPlaneRunning, 2), cp(true, fleetv1.ControlPlaneRunning, 2), false, time.Time{}},
		{"starting: not yet", cp(true, "", 0), cp(true, fleetv1.ControlPlaneStarting, 2), false, time.Time{}},
		{"no trace: nothing", cp(false, fleetv1.ControlPlaneStarting, 2), cp(false, fleetv1.ControlPlaneRunning, 2), false, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := tracingtest.Record(t)
			traceReport(context.Background(), tc.before, tc.now, at)
			spans := exp.GetSpans()
			if got := len(spans) == 1; got != tc.want {
				t.Fatalf("%d spans recorded, want one: %v", len(spans), tc.want)
			}
			if !tc.want {
				return
			}
			parent, _ := tracing.Parse(op)
			s := spans[0]
			if s.Name != spanStart || s.Parent.SpanID() != parent.SpanID() || s.SpanContext.TraceID() != parent.TraceID() {
				t.Errorf("span %q under %s in trace %s, want %q under the operation's %s", s.Name, s.Parent.SpanID(), s.SpanContext.TraceID(), spanStart, parent.SpanID())
			}
			if !s.StartTime.Equal(tc.wantStart) || !s.EndTime.Equal(at) {
				t.Errorf("span ran %s..%s, want %s..%s", s.StartTime, s.EndTime, tc.wantStart, at)
			}
		})
	}
}

func TestOnlyAStartJoinsTheTrace(t *testing.T) {
	const op = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	cp := &fleetv1.ControlPlane{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{fleetv1.AnnotationTraceparent: op}}, Spec: fleetv1.ControlPlaneSpec{Epoch: 2}}
	if got := instanceOf(cp).Traceparent; got != op {
		t.Errorf("a control plane starting for its epoch gets traceparent %q, want %q", got, op)
	}
	cp.Status = fleetv1.ControlPlaneStatus{Phase: fleetv1.ControlPlaneRunning, Epoch: 2}
	if got := instanceOf(cp).Traceparent; got != "" {
		t.Errorf("one running at its epoch (started again after a crash) gets traceparent %q, want none", got)
	}
}
