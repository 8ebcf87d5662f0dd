package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := &State{Pid: 42, Phase: PhaseRunning, Started: time.Now().UTC().Truncate(time.Second),
		Clusters: []ClusterState{{Name: "host-1", Role: RoleHost, Nodes: 2, Pids: map[Component]int{Etcd: 7}}}}
	if err := writeState(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pid != 42 || got.Phase != PhaseRunning || !got.Started.Equal(want.Started) || got.Clusters[0].Pids[Etcd] != 7 {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := ReadState(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty dir: %v, want ErrNotExist", err)
	}
}

func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	if err := writeState(dir, &State{Pid: 4242}); err != nil {
		t.Fatal(err)
	}
	first, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !InUse(dir) {
		t.Fatal("InUse = false while locked")
	}
	_, err = lockDir(dir)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "pid 4242") || !strings.Contains(err.Error(), "vfleet lab down --dir "+dir) {
		t.Fatalf("second lock: %v", err)
	}
	first.Close()
	if InUse(dir) {
		t.Fatal("InUse = true after release")
	}
}

func TestClaimRefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "precious.txt"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := &Lab{cfg: Config{Dir: dir}, progress: newProgress(nil)}
	err := l.claimDir()
	if err == nil || !strings.Contains(err.Error(), "not empty and holds no lab") {
		t.Fatalf("claimDir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "precious.txt")); err != nil {
		t.Fatal("a foreign file was touched")
	}
}

func TestClaimClearsDeadLab(t *testing.T) {
	dir := t.TempDir()
	if err := writeState(dir, &State{Pid: 1, Phase: PhaseRunning}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "host-1", "etcd"), 0o755); err != nil {
		t.Fatal(err)
	}
	l := &Lab{cfg: Config{Dir: dir}, progress: newProgress(nil)}
	if err := l.claimDir(); err != nil {
		t.Fatal(err)
	}
	defer l.release()
	if _, err := os.Stat(filepath.Join(dir, "host-1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the dead lab's data was not cleared")
	}
}

func TestDownRefusesNonLab(t *testing.T) {
	dir := t.TempDir()
	err := Down(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "no lab in "+dir) {
		t.Fatalf("Down: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal("Down removed a directory that is not a lab")
	}
}

func TestNewReportsMissingBinaries(t *testing.T) {
	_, err := New(Config{Dir: t.TempDir(), BinDir: t.TempDir(), Hosts: DefaultHosts(1, 1)})
	if err == nil || !strings.Contains(err.Error(), `run "make binaries"`) {
		t.Fatalf("New: %v", err)
	}
}

func TestCheckDir(t *testing.T) {
	empty := t.TempDir()
	if err := CheckDir(empty); err != nil {
		t.Errorf("empty dir: %v", err)
	}
	if err := CheckDir(filepath.Join(empty, "new")); err != nil {
		t.Errorf("new dir: %v", err)
	}
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "notes"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckDir(foreign); err == nil || !strings.Contains(err.Error(), "holds no lab") {
		t.Errorf("foreign dir: %v", err)
	}
	held := t.TempDir()
	lock, err := lockDir(held)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := CheckDir(held); !errors.Is(err, ErrInUse) {
		t.Errorf("dir in use: %v", err)
	}
}
