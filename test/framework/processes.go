package framework

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/vfleet/vfleet/internal/procgroup"
)

// ProcessesUsing returns the pids of live processes whose command line
// mentions dir. Every lab process names its directory in its flags, so this
// finds what a lab leaked even when its pids were never recorded.
func ProcessesUsing(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte(dir)) {
			continue
		}
		if procgroup.Alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Alive returns those of pids that are still running.
func Alive(pids []int) []int {
	var alive []int
	for _, pid := range pids {
		if procgroup.Alive(pid) {
			alive = append(alive, pid)
		}
	}
	return alive
}

// DescribeProcesses names each pid with its command line, for failure messages.
func DescribeProcesses(pids []int) string {
	var out []string
	for _, pid := range pids {
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		line := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if len(line) > 200 {
			line = line[:200] + "..."
		}
		out = append(out, fmt.Sprintf("%d: %s", pid, line))
	}
	return strings.Join(out, "; ")
}
