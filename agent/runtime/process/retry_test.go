package process

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/vfleet/vfleet/agent/runtime"
	"github.com/vfleet/vfleet/agent/runtime/process/record"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controlplane"
)

func TestRetryDelay(t *testing.T) {
	for _, tc := range []struct {
		gaveUp int32
		want   time.Duration
	}{
		{0, 30 * time.Second},
		{1, time.Minute},
		{2, 2 * time.Minute},
		{3, 4 * time.Minute},
		{4, 5 * time.Minute},
		{40, 5 * time.Minute},
	} {
		if got := RetryDelay(tc.gaveUp); got != tc.want {
			t.Errorf("RetryDelay(%d) = %s, want %s", tc.gaveUp, got, tc.want)
		}
	}
}

// TestEnsureRetriesAControlPlaneThatGaveUp: a control plane whose
// apiserver never became ready stays Failed for a while, then is started
// again with the same spec, and waits longer after each time it gave up.
// version is the Kubernetes version of testRuntime's binaries.
const version = "v1.36.3"

// testRuntime is a runtime over empty binaries of version that starts
// /bin/true for `vfleet controlplane`, unless with says otherwise: what its
// tests check is whether and how it starts one, not what the process does.
func testRuntime(t *testing.T, firstPort int, with ...func(*Options)) (*Runtime, string) {
	t.Helper()
	root, bins := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(bins, version), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bins, version, "kube-apiserver"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) on this machine")
	}
	opts := Options{Root: root, Vfleet: truePath, BinRoot: bins, Address: "127.0.0.1", FirstPort: firstPort, LastPort: firstPort + 7, Log: logr.Discard()}
	for _, f := range with {
		f(&opts)
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r, truePath
}

// testInstance is the control plane of vcluster team-a/name, at epoch 1
// of testRuntime's version, with its host namespace vc-<name>.
func testInstance(name string) runtime.Instance {
	return runtime.Instance{Name: name + ".team-a", Namespace: "vc-" + name, Generation: 1, Spec: fleetv1.ControlPlaneSpec{
		VirtualCluster: fleetv1.VirtualClusterReference{Namespace: "team-a", Name: name, UID: "uid-" + name}, KubernetesVersion: version, Epoch: 1,
	}}
}

func TestEnsureRetriesAControlPlaneThatGaveUp(t *testing.T) {
	r, truePath := testRuntime(t, 16443)
	inst := testInstance("demo")
	dir := r.dir(inst.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	want := record.Launch{Version: version, Epoch: 1, Options: syncerOptions(r.launchConfig(inst, dir, 16443))}
	// gaveUp writes what a control plane that gave up leaves: its record
	// and its status, naming a process that is gone.
	gaveUp := func(rec record.Record, ago time.Duration) {
		t.Helper()
		dead := exec.Command(truePath)
		if err := dead.Run(); err != nil {
			t.Fatal(err)
		}
		rec.Pid = dead.Process.Pid
		if err := record.Write(dir, rec); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(controlplane.Status{Pid: rec.Pid, Phase: controlplane.PhaseFailed, Message: "etcd is slow", Updated: time.Now().Add(-ago)})
		if err := os.WriteFile(controlplane.StatusPath(dir), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ensure := func() runtime.State {
		t.Helper()
		s, err := r.Ensure(t.Context(), inst)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	gaveUp(record.Record{Port: 16443, Launch: want, Generation: 1}, time.Second)
	before, _ := record.Read(dir)
	s := ensure()
	if s.Phase != fleetv1.ControlPlaneFailed || s.RetryAfter <= 0 || s.RetryAfter > 30*time.Second || !strings.Contains(s.Message, "etcd is slow (trying again 30s after it gave up)") {
		t.Fatalf("just after it gave up: %+v, want Failed saying why and when it is tried again", s)
	}
	if after, _ := record.Read(dir); after != before {
		t.Fatalf("it was started again at once: record %+v, was %+v", after, before)
	}

	gaveUp(record.Record{Port: 16443, Launch: want, Generation: 1}, 31*time.Second)
	if s := ensure(); s.Phase != fleetv1.ControlPlaneStarting {
		t.Fatalf("31s after it gave up: %+v, want Starting", s)
	}
	rec, _ := record.Read(dir)
	if rec.GaveUp != 1 {
		t.Fatalf("record after the new attempt: %+v, want it to count one give-up", rec)
	}

	gaveUp(rec, 31*time.Second)
	if s := ensure(); s.Phase != fleetv1.ControlPlaneFailed || s.RetryAfter <= 0 || s.RetryAfter > 30*time.Second {
		t.Fatalf("31s after it gave up a second time: %+v, want Failed for a minute", s)
	}

	// A new spec is tried at once, and its attempts counted afresh.
	inst.Generation = 2
	if s := ensure(); s.Phase != fleetv1.ControlPlaneStarting {
		t.Fatalf("with a new spec: %+v, want Starting", s)
	}
	if rec, _ := record.Read(dir); rec.GaveUp != 0 || rec.Generation != 2 {
		t.Fatalf("record for a new spec: %+v, want no give-ups", rec)
	}
}
