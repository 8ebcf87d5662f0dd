package process

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vfleet/vfleet/agent/runtime"
	"github.com/vfleet/vfleet/agent/runtime/process/record"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controlplane"
	"github.com/vfleet/vfleet/controlplane/launch"
)

// TestStartGate: at most max start at once, the rest in the order they
// asked; a slot given back lets the head of the queue go, and tells it,
// even when the one told leaves before it goes; a start that holds its
// slot too long loses it, and a waiter that stops asking its place.
func TestStartGate(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var told []string
	g := newStartGate(2, func(n string) { told = append(told, n) })
	admit := func(name string, now time.Time, want bool) string {
		t.Helper()
		ok, why := g.admit(name, now)
		if ok != want {
			t.Fatalf("admit(%s) = %v (%s), want %v", name, ok, why, want)
		}
		return why
	}
	lastTold := func(want string) {
		t.Helper()
		if len(told) == 0 || told[len(told)-1] != want {
			t.Fatalf("told %v, want %s last", told, want)
		}
	}
	admit("a", at(0), true)
	admit("b", at(0), true)
	if why := admit("c", at(0), false); !strings.Contains(why, "2 control planes are starting on this host (at most 2 at once), and 0 asked before") {
		t.Errorf("c waits because %q", why)
	}
	if why := admit("d", at(0), false); !strings.Contains(why, "1 asked before") {
		t.Errorf("d waits because %q", why)
	}
	// a starts again before it was ready: it keeps its slot.
	admit("a", at(0), true)
	admit("d", at(0), false)
	if len(told) != 0 {
		t.Fatalf("told %v with no slot free", told)
	}

	g.done("a")
	lastTold("c")
	// The slot is c's, not d's, though d asks first.
	admit("d", at(1), false)
	admit("c", at(1), true)

	// d is told, and leaves (deleted) before it goes: e is told next.
	admit("e", at(1), false)
	g.done("b")
	lastTold("d")
	g.done("d")
	lastTold("e")
	admit("e", at(2), true)

	// f asks once and never again: after waiterGone it holds no one up.
	admit("f", at(2), false)
	if why := admit("h", at(2+int(waiterGone/time.Second)), false); !strings.Contains(why, "0 asked before") {
		t.Errorf("h waits behind a waiter gone: %q", why)
	}
	// c (since 1s) holds its slot past startHold, e (since 2s) not yet:
	// h goes when it asks next, and is told.
	told = nil
	admit("h", at(1+int(startHold/time.Second)), true)
	admit("i", at(1+int(startHold/time.Second)), false)

	// One found starting after an agent restart counts, over the bound.
	g.adopt("j", at(61))
	if why := admit("i", at(61), false); !strings.Contains(why, "3 control planes are starting") {
		t.Errorf("i waits because %q", why)
	}

	// Without a bound, everyone starts.
	free := newStartGate(0, func(string) { t.Fatal("told without a bound") })
	for _, n := range []string{"a", "b", "c"} {
		if ok, _ := free.admit(n, t0); !ok {
			t.Fatalf("%s kept waiting without a bound", n)
		}
	}
	free.done("a")
}

// TestStartsWaitTheirTurn: with one start at a time, a second control
// plane waits, Pending and saying why, until the first is running; the
// runtime then tells it may go, and it starts.
func TestStartsWaitTheirTurn(t *testing.T) {
	t.Setenv(fakeControlPlaneEnv, "1")
	r, _ := testRuntime(t, 16459, func(o *Options) { o.Vfleet, o.MaxStarting = os.Args[0], 1 })
	inst := testInstance
	for _, name := range []string{"first", "second"} {
		t.Cleanup(func() { _ = r.Remove(context.Background(), inst(name)) })
	}
	ensure := func(name string) runtime.State {
		t.Helper()
		s, err := r.Ensure(t.Context(), inst(name))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := ensure("first"); s.Phase != fleetv1.ControlPlaneStarting {
		t.Fatalf("first: %+v, want Starting", s)
	}
	s := ensure("second")
	if s.Phase != fleetv1.ControlPlanePending || s.RetryAfter != startPoll ||
		!strings.Contains(s.Message, "waiting to start: 1 control planes are starting on this host (at most 1 at once)") {
		t.Fatalf("second: %+v, want Pending saying why, asking again in %s", s, startPoll)
	}
	if rec, _ := record.Read(r.dir("second.team-a")); rec.Pid != 0 {
		t.Fatalf("second started while it waits: %+v", rec)
	}

	// The first becomes ready; the agent, told, looks at it.
	if err := os.WriteFile(filepath.Join(r.dir("first.team-a"), fakeReady), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for ensure("first").Phase != fleetv1.ControlPlaneRunning {
		if time.Now().After(deadline) {
			t.Fatal("first never ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for told := false; !told; {
		select {
		case name := <-r.Changed():
			told = name == "second.team-a"
		case <-time.After(time.Until(deadline)):
			t.Fatal("second was never told its turn came")
		}
	}
	if s := ensure("second"); s.Phase != fleetv1.ControlPlaneStarting {
		t.Fatalf("second, told: %+v, want Starting", s)
	}

	// The first is moved to a new epoch while the second starts: it waits
	// its turn still running, not stopped.
	before, _ := record.Read(r.dir("first.team-a"))
	next := inst("first")
	next.Spec.Epoch = 2
	if s, err := r.Ensure(t.Context(), next); err != nil || s.Phase != fleetv1.ControlPlanePending {
		t.Fatalf("first at epoch 2: %+v, %v; want Pending", s, err)
	}
	if after, _ := record.Read(r.dir("first.team-a")); after.Pid != before.Pid || !r.alive("first.team-a", after.Pid, r.dir("first.team-a")) {
		t.Fatalf("first was stopped to wait: %+v, was %+v", after, before)
	}
}

// fakeControlPlaneEnv makes this test binary, started by the runtime as
// `vfleet controlplane`, stand in for one (fakeControlPlane).
const fakeControlPlaneEnv = "VFLEET_TEST_FAKE_CONTROLPLANE"

// fakeReady is the file a test creates in a fake control plane's
// directory to make it ready.
const fakeReady = "fake-ready"

func TestMain(m *testing.M) {
	if os.Getenv(fakeControlPlaneEnv) != "" && len(os.Args) > 1 && os.Args[1] == "controlplane" {
		fakeControlPlane(os.Args[2:])
		return
	}
	os.Exit(m.Run())
}

// fakeControlPlane says, as a control plane does in its status file, that
// it is starting, and that it runs once fakeReady appears in its data
// directory; then it waits to be stopped.
func fakeControlPlane(args []string) {
	var dir string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--data-dir="); ok {
			dir = v
		}
	}
	write := func(phase controlplane.Phase) {
		data, _ := json.Marshal(controlplane.Status{Pid: os.Getpid(), Phase: phase, Updated: time.Now()})
		_ = os.WriteFile(controlplane.StatusPath(dir), data, 0o600)
	}
	write(controlplane.PhaseStarting)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	for {
		if _, err := os.Stat(filepath.Join(dir, fakeReady)); err == nil {
			break
		}
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	_ = os.WriteFile(launch.AdminKubeconfig(dir), []byte("apiVersion: v1\nkind: Config\n"), 0o600)
	write(controlplane.PhaseRunning)
	<-stop
}

// TestAChildJustStartedIsNotStartedAgain: a control plane's command line
// reads empty for a moment after its exec, and one asked for again then
// was taken for gone and started a second time, on the same port. The
// runtime knows its own children: here one whose command line never
// names it (a shell script) is still the one running.
func TestAChildJustStartedIsNotStartedAgain(t *testing.T) {
	script := filepath.Join(t.TempDir(), "cp")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, _ := testRuntime(t, 16467, func(o *Options) { o.Vfleet = script })
	inst := testInstance("once")
	t.Cleanup(func() { _ = r.Remove(context.Background(), inst) })
	var pid int
	for i := range 3 {
		s, err := r.Ensure(t.Context(), inst)
		if err != nil || s.Phase != fleetv1.ControlPlaneStarting {
			t.Fatalf("ensure %d: %+v, %v", i, s, err)
		}
		rec, _ := record.Read(r.dir(inst.Name))
		if i == 0 {
			pid = rec.Pid
		}
		if rec.Pid != pid || rec.Restarts != 0 {
			t.Fatalf("ensure %d started it again: %+v, first pid %d", i, rec, pid)
		}
	}
}
