package process

import (
	"testing"

	"github.com/vfleet/vfleet/agent/runtime"
	"github.com/vfleet/vfleet/agent/runtime/process/record"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// TestAWakeIsNoRestart: a control plane stopped to sleep and started
// again on a wake was counted, and logged, as a process that died.
func TestAWakeIsNoRestart(t *testing.T) {
	r, _ := testRuntime(t, 16451)
	inst := testInstance("nap")
	ensure := func(sleeping bool, want fleetv1.ControlPlanePhase) runtime.State {
		t.Helper()
		inst.Spec.Sleeping = sleeping
		s, err := r.Ensure(t.Context(), inst)
		if err != nil {
			t.Fatal(err)
		}
		if s.Phase != want {
			t.Fatalf("sleeping %v: phase %s (%s), want %s", sleeping, s.Phase, s.Message, want)
		}
		return s
	}
	ensure(false, fleetv1.ControlPlaneStarting)
	for range 2 {
		ensure(true, fleetv1.ControlPlaneSleeping)
		if s := ensure(false, fleetv1.ControlPlaneStarting); s.Restarts != 0 {
			t.Fatalf("woken: %d restarts, want none", s.Restarts)
		}
	}
	if rec, _ := record.Read(r.dir(inst.Name)); rec.Restarts != 0 {
		t.Fatalf("record %+v counts restarts", rec)
	}
}
