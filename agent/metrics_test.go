package agent

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
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
