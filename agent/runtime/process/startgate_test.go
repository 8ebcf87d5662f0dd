package process

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vfleet/vfleet/agent/runtime"
	"github.com/vfleet/vfleet/agent/runtime/process/record"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// TestStartGate: at most max start at once, the rest in the order they
// asked; a slot given back lets the head of the queue go, and tells it;
// a start that holds its slot too long loses it.
func TestStartGate(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var told []string
	g := newStartGate(2, time.Minute, func(n string) { told = append(told, n) })
	admit := func(name string, at time.Time, want bool) string {
		t.Helper()
		ok, why := g.admit(name, at)
		if ok != want {
			t.Fatalf("admit(%s) = %v (%s), want %v", name, ok, why, want)
		}
		return why
	}
	admit("a", t0, true)
	admit("b", t0, true)
	if why := admit("c", t0, false); !strings.Contains(why, "2 control planes are starting on this host (at most 2 at once), and 0 asked before") {
		t.Errorf("c waits because %q", why)
	}
	if why := admit("d", t0, false); !strings.Contains(why, "1 asked before") {
		t.Errorf("d waits because %q", why)
	}
	// a starts again (its process died): it keeps its slot, no one goes.
	admit("a", t0, true)
	admit("d", t0, false)

	g.done("a")
	if !slices.Equal(told, []string{"c"}) {
		t.Fatalf("a's slot told %v, want [c]", told)
	}
	// The slot is c's, not d's, though d asks first.
	admit("d", t0, false)
	admit("c", t0.Add(10*time.Second), true)

	// A waiter that no longer wants to start leaves the queue; no slot
	// was given back, so no one is told.
	admit("e", t0, false)
	g.done("d")
	if len(told) != 1 {
		t.Fatalf("a waiter leaving told %v", told)
	}
	// b holds its slot past the hold (c not yet): e goes, and is told.
	told = nil
	admit("f", t0.Add(30*time.Second), false)
	admit("e", t0.Add(time.Minute), true)
	if !slices.Equal(told, []string{"e"}) {
		t.Fatalf("an expired slot told %v, want [e]", told)
	}
	admit("f", t0.Add(time.Minute), false)

	// Without a bound, everyone starts.
	free := newStartGate(0, time.Minute, func(string) { t.Fatal("told without a bound") })
	for _, n := range []string{"a", "b", "c"} {
		if ok, _ := free.admit(n, t0); !ok {
			t.Fatalf("%s kept waiting without a bound", n)
		}
	}
	free.done("a")
}

// TestStartsWaitTheirTurn: with one start at a time, a second control
// plane waits, Pending and saying why, until the first one's process
// ends; the runtime then tells it may go, and it starts.
func TestStartsWaitTheirTurn(t *testing.T) {
	// A "control plane" that runs for a second.
	slow := filepath.Join(t.TempDir(), "slow")
	if err := os.WriteFile(slow, []byte("#!/bin/sh\nsleep 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, _ := testRuntime(t, 16459, func(o *Options) { o.Vfleet, o.MaxStarting = slow, 1 })
	inst := func(name string) runtime.Instance {
		return runtime.Instance{Name: name + ".team-a", Namespace: "vc-" + name, Generation: 1, Spec: fleetv1.ControlPlaneSpec{
			VirtualCluster: fleetv1.VirtualClusterReference{Namespace: "team-a", Name: name, UID: "uid-" + name}, KubernetesVersion: version, Epoch: 1,
		}}
	}
	ensure := func(name string, want fleetv1.ControlPlanePhase) runtime.State {
		t.Helper()
		s, err := r.Ensure(t.Context(), inst(name))
		if err != nil {
			t.Fatal(err)
		}
		if s.Phase != want {
			t.Fatalf("%s: phase %s (%s), want %s", name, s.Phase, s.Message, want)
		}
		return s
	}
	ensure("first", fleetv1.ControlPlaneStarting)
	if s := ensure("second", fleetv1.ControlPlanePending); !strings.Contains(s.Message, "waiting to start: 1 control planes are starting on this host (at most 1 at once)") {
		t.Fatalf("second waits saying %q", s.Message)
	}
	if rec, _ := record.Read(r.dir("second.team-a")); rec.Pid != 0 {
		t.Fatalf("second started while it waits: %+v", rec)
	}
	deadline := time.After(30 * time.Second)
	for told := false; !told; {
		select {
		case name := <-r.Changed():
			told = name == "second.team-a"
		case <-deadline:
			t.Fatal("second was never told its turn came")
		}
	}
	ensure("second", fleetv1.ControlPlaneStarting)
}
