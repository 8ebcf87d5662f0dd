package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/lab/realnode"
)

// Phase is where a lab is in its life.
type Phase string

// Lab phases.
const (
	PhaseStarting Phase = "Starting"
	PhaseRunning  Phase = "Running"
	PhaseStopped  Phase = "Stopped"
	PhaseFailed   Phase = "Failed"
)

const stateFile = "lab.json"

// State is what a lab records about itself in its directory, for other
// processes: the pid that runs it, and each cluster's endpoint, kubeconfig,
// ports and process ids.
type State struct {
	Pid      int            `json:"pid"`
	Phase    Phase          `json:"phase"`
	Message  string         `json:"message,omitempty"`
	Started  time.Time      `json:"started"`
	Clusters []ClusterState `json:"clusters"`
}

// ClusterState describes one cluster of a lab.
type ClusterState struct {
	Name       string            `json:"name"`
	Role       Role              `json:"role"`
	Region     string            `json:"region,omitempty"`
	Zone       string            `json:"zone,omitempty"`
	Nodes      int               `json:"nodes"`
	Endpoint   string            `json:"endpoint"`
	Kubeconfig string            `json:"kubeconfig"`
	Ports      Ports             `json:"ports"`
	Pids       map[Component]int `json:"pids,omitempty"`
}

// ReadState reads the state file of the lab in dir. The error wraps
// os.ErrNotExist when dir holds no lab.
func ReadState(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

// writeState replaces the state file atomically, so readers never see half.
func writeState(dir string, st *State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}

// Down stops the lab running in dir, whichever process runs it, and deletes
// the directory. It refuses a directory that holds no lab.
func Down(ctx context.Context, dir string) error {
	st, err := ReadState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no lab in %s (no %s): nothing to stop", dir, stateFile)
	}
	if err != nil {
		return err
	}
	if inUse(dir) {
		// The lab's own process stops its clusters gracefully on SIGTERM.
		_ = syscall.Kill(st.Pid, syscall.SIGTERM)
		deadline := time.Now().Add(2 * stopGrace)
		for inUse(dir) && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pollEvery):
			}
		}
		if inUse(dir) {
			_ = syscall.Kill(st.Pid, syscall.SIGKILL)
		}
	}
	if err := clearLab(dir, st); err != nil {
		return err
	}
	// What is left is the background log; it goes with the lab.
	return os.RemoveAll(dir)
}

// clearLab kills whatever processes of a lab are left and deletes its files.
// It runs only when no process holds the lab's lock.
func clearLab(dir string, st *State) error {
	for _, c := range st.Clusters {
		// Control planes first: they would see their agent gone and only
		// stop after a grace period.
		for _, pid := range controlPlanePids(filepath.Join(dir, c.Name, "agent")) {
			_ = procgroup.SignalGroup(pid, syscall.SIGKILL)
		}
		for _, pid := range c.Pids {
			// A pid may have been reused since the lab recorded it; only
			// a process whose command line names this lab is ours.
			if ownedBy(pid, dir) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	// Its real nodes' containers, mounts, bridges and cgroups, before
	// their directories go.
	if err := realnode.Sweep(context.Background()); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Dir(postgresFallback(filepath.Join(dir, managementName)))); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == lockFile || e.Name() == LogFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return os.Remove(filepath.Join(dir, lockFile))
}

func ownedBy(pid int, dir string) bool {
	if !procgroup.Alive(pid) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	// The PostgreSQL server may keep its data outside the lab directory.
	return bytes.Contains(cmdline, []byte(dir+string(filepath.Separator))) ||
		bytes.Contains(cmdline, []byte(postgresFallback(filepath.Join(dir, managementName))+string(filepath.Separator)))
}

// ClusterStatus is a cluster of a lab as seen now.
type ClusterStatus struct {
	ClusterState
	// Healthy is true when the apiserver answers /readyz.
	Healthy bool
	// Problem says what is wrong when it is not healthy.
	Problem string
	// NodesReady counts Ready, schedulable nodes.
	NodesReady int
}

// Status reports the lab in dir: its recorded state and, while it runs, for
// each cluster whether its apiserver is ready and how many nodes are Ready.
func Status(ctx context.Context, dir string) (*State, []ClusterStatus, error) {
	st, err := ReadState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("no lab in %s: start one with \"vfleet lab up --dir %s\"", dir, dir)
	}
	if err != nil {
		return nil, nil, err
	}
	if st.Phase == PhaseRunning || st.Phase == PhaseStarting {
		if !inUse(dir) {
			st.Phase, st.Message = PhaseFailed, fmt.Sprintf("the lab process (pid %d) is gone", st.Pid)
		}
	}
	out := make([]ClusterStatus, len(st.Clusters))
	for i, c := range st.Clusters {
		out[i] = ClusterStatus{ClusterState: c}
		// A lab that is not running has nothing to probe.
		if st.Phase != PhaseRunning && st.Phase != PhaseStarting {
			continue
		}
		if err := clusterHealth(ctx, &out[i]); err != nil {
			out[i].Problem = err.Error()
		}
	}
	return st, out, nil
}

func clusterHealth(ctx context.Context, cs *ClusterStatus) error {
	cfg, err := kubeconfig.RESTConfig(cs.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.Timeout = 3 * time.Second
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if _, err := kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return fmt.Errorf("apiserver not ready: %w", err)
	}
	cs.Healthy = true
	if cs.Nodes == 0 {
		return nil
	}
	nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	cs.NodesReady = countReady(nodes.Items)
	if cs.NodesReady < cs.Nodes {
		return fmt.Errorf("%d of %d nodes not Ready and schedulable", cs.Nodes-cs.NodesReady, cs.Nodes)
	}
	return nil
}
