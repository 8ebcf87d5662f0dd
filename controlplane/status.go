package controlplane

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Phase is where a control plane process is in its life, as it reports it
// in its status file.
type Phase string

// Phases a control plane reports.
const (
	PhaseStarting Phase = "Starting"
	PhaseRunning  Phase = "Running"
	// PhaseFailed: the apiserver never became ready; Message says why, in
	// its own words. The process has given up and exited.
	PhaseFailed  Phase = "Failed"
	PhaseStopped Phase = "Stopped"
)

// Status is what a control plane process tells whoever runs it (the agent)
// through a file in its data directory: the process may outlive the agent
// that started it, so a pipe would not do.
type Status struct {
	Pid      int       `json:"pid"`
	Phase    Phase     `json:"phase"`
	Endpoint string    `json:"endpoint,omitempty"`
	Restarts int32     `json:"restarts,omitempty"`
	Message  string    `json:"message,omitempty"`
	Updated  time.Time `json:"updated"`
}

const statusFile = "status.json"

// StatusPath is where the control plane in dataDir writes its status.
func StatusPath(dataDir string) string { return filepath.Join(dataDir, statusFile) }

// ReadStatus reads the status of the control plane in dataDir; a control
// plane that never wrote one reads as os.ErrNotExist.
func ReadStatus(dataDir string) (Status, error) {
	var s Status
	data, err := os.ReadFile(StatusPath(dataDir))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%s: %w", StatusPath(dataDir), err)
	}
	return s, nil
}

// writeStatus replaces the status file in one rename, so a reader never
// sees half of it.
func writeStatus(dataDir string, s Status) error {
	s.Updated = time.Now().UTC()
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return replaceFile(StatusPath(dataDir), data)
}

// replaceFile writes data to path in one rename, readable by its owner
// only.
func replaceFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// errorLine picks from the end of a log what a person should read first:
// the last line that says "Error" (cobra's exit message, or a klog error),
// else the last line.
func errorLine(tail string) string {
	lines := strings.Split(strings.TrimSpace(tail), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "Error:") || strings.HasPrefix(l, "E") && len(l) > 5 && l[1] >= '0' && l[1] <= '9' {
			return l
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// StartError is the error of a control plane whose apiserver never became
// ready; its message is the apiserver's own.
type StartError struct {
	Attempts int
	Reason   string
}

func (e *StartError) Error() string {
	return fmt.Sprintf("kube-apiserver failed %d times before it was ready: %s", e.Attempts, e.Reason)
}
