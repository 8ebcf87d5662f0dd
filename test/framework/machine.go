package framework

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// MachineLeftovers lists what real lab nodes could leave on the machine
// and should not have, each kind checked on its own: live containerd
// shims and containers, mounts under dir or /run/vfleet, vfleet bridges,
// KUBE- iptables chains, cgroups under /vfleet, and /run/vfleet itself.
// It reads the machine directly, not through the lab's own cleanup code.
func MachineLeftovers(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil || zombie(stat) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		cgroup, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		switch {
		case bytes.Contains(cmdline, []byte("containerd-shim")):
			out = append(out, "process "+e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		case bytes.Contains(cgroup, []byte(":/vfleet/")):
			out = append(out, "process "+e.Name()+" in a real node's cgroup: "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 4 && (strings.HasPrefix(fields[4], dir) || strings.HasPrefix(fields[4], "/run/vfleet")) {
				out = append(out, "mount "+fields[4])
			}
		}
		_ = f.Close()
	}
	if links, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil {
		for _, l := range strings.Split(string(links), "\n") {
			if strings.Contains(l, "vfleet-br") {
				out = append(out, "link "+l)
			}
		}
	}
	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		data, err := exec.Command(save).Output()
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, ":KUBE-") {
				out = append(out, save+" chain "+strings.Fields(l)[0])
			}
		}
	}
	if cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/vfleet"); len(cgroups) > 0 {
		out = append(out, "cgroups "+strings.Join(cgroups, " "))
	}
	if _, err := os.Stat("/run/vfleet"); err == nil {
		out = append(out, "directory /run/vfleet")
	}
	return out
}

// zombie reports whether /proc/<pid>/stat says the process has exited and
// waits only to be reaped.
func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
