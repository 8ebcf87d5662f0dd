// Package record is the note the process runtime keeps next to each
// control plane it runs: its port and pid. Whoever must find those
// processes (an agent that restarted, a lab stopping a host) reads it.
package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vfleet/vfleet/internal/procgroup"
)

// Record is the agent's note about one control plane, kept next to its data.
type Record struct {
	Port int `json:"port"`
	// Pid of the `vfleet controlplane` process last started; it leads its
	// own process group.
	Pid int `json:"pid,omitempty"`
	// Launch is what that process was started with; a different one needs
	// a restart.
	Launch Launch `json:"launch"`
	// Generation of the spec it was started for.
	Generation int64 `json:"generation,omitempty"`
	// Restarts counts processes that died and were started again by the
	// agent; the control plane counts its own children's.
	Restarts int32 `json:"restarts,omitempty"`
	// GaveUp counts the times the control plane gave up starting with
	// this Launch; the agent waits longer before each new attempt.
	GaveUp int32 `json:"gaveUp,omitempty"`
}

// Launch is what a control plane process was started with.
type Launch struct {
	Version string `json:"version,omitempty"`
	Epoch   int64  `json:"epoch,omitempty"`
	// BackendHash identifies the store endpoint and credentials without
	// keeping them.
	BackendHash string `json:"backendHash,omitempty"`
	// IdentityHash identifies the vcluster's identity (identity.Hash);
	// empty when the control plane makes its own.
	IdentityHash string `json:"identityHash,omitempty"`
	// Options are the syncer's flags: isolation policy, namespaces.
	Options string `json:"options,omitempty"`
}

// HashBackend is a Launch's BackendHash.
func HashBackend(backend string) string {
	if backend == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(backend))
	return hex.EncodeToString(sum[:8])
}

const file = "agent-record.json"

// Dirs lists the control-plane directories under root, for whoever must
// find their processes (the lab, stopping a host).
func Dirs(root string) []string {
	entries, _ := os.ReadDir(root)
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	return dirs
}

// Pid returns the pid of the control plane process recorded in dir, if it
// is alive and is that control plane.
func Pid(dir string) int {
	rec, err := Read(dir)
	if err != nil || !IsControlPlane(rec.Pid, dir) {
		return 0
	}
	return rec.Pid
}

// Read reads the record in dir.
func Read(dir string) (Record, error) {
	var rec Record
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(data, &rec)
}

// Write replaces the record in dir in one rename.
func Write(dir string, rec Record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, file+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, file))
}

// IsControlPlane reports whether pid is alive and is the control plane of
// dir, not another process that reused the pid.
func IsControlPlane(pid int, dir string) bool {
	if !procgroup.Alive(pid) {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(string(cmdline), "\x00")
	return len(args) > 1 && args[1] == "controlplane" && contains(args, "--data-dir="+dir)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
