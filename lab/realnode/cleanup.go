package realnode

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// record is what Cleanup needs of a node, kept under /run so that the next
// lab finds a node whose lab died with its directory.
type record struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
	Dir   string `json:"dir"`
}

func (c Config) writeRecord() error {
	data, err := json.Marshal(record{Name: c.Name, Index: c.Index, Dir: c.Dir})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.run(), "node.json"), data, 0o600)
}

// leftovers are the nodes that earlier labs left on the machine.
func leftovers() []Config {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return nil
	}
	var out []Config
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(runDir, e.Name(), "node.json"))
		if err != nil {
			// Not one of ours to judge; its name is enough for the run
			// directory and cgroups.
			out = append(out, Config{Name: e.Name()})
			continue
		}
		var r record
		if json.Unmarshal(data, &r) == nil {
			out = append(out, Config{Name: r.Name, Index: r.Index, Dir: r.Dir})
		}
	}
	return out
}

// Cleanup removes everything the node made on the machine, whether its
// processes were stopped or killed: the containers and containerd's shims
// (which leave the lab's process groups), every mount under its
// directories, its cgroups, its bridge and the veths on it, its files
// under /run, and what the kubelet and containerd put in machine-wide
// places. The node's directory itself stays, as the lab's data does.
func Cleanup(c Config) error {
	var errs []error
	if err := killAll(c); err != nil {
		errs = append(errs, err)
	}
	for _, root := range []string{c.Dir, c.run()} {
		if err := unmountUnder(root); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeCgroups(c.CgroupRoot()); err != nil {
		errs = append(errs, err)
	}
	if c.Index != 0 {
		if err := removeBridge(c.Bridge()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(c.run()); err != nil {
		errs = append(errs, err)
	}
	removeIfEmpty(runDir)
	removeStaleSockets("/run/containerd/s")
	removeIfEmpty("/run/containerd/s", "/run/containerd")
	if c.Dir != "" {
		removeLinksInto("/var/log/containers", c.Dir)
	}
	removeStaleSockets("/var/lib/kubelet/device-plugins")
	removeIfEmpty("/var/log/containers", "/var/lib/kubelet/device-plugins", "/var/lib/kubelet")
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean up node %s: %w", c.Name, err)
	}
	return nil
}

// killAll kills the node's shims and every process in its cgroups, and
// waits until they are gone.
func killAll(c Config) error {
	for range 50 {
		pids := append(shims(c.socket()), cgroupPids(c.CgroupRoot())...)
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("processes of node %s outlived SIGKILL: %v", c.Name, append(shims(c.socket()), cgroupPids(c.CgroupRoot())...))
}

// Shims are the node's containerd shims: one per pod.
func Shims(c Config) []int { return shims(c.socket()) }

// shims are the containerd shims serving the containerd at socket.
func shims(socket string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i := range args[:len(args)-1] {
			if args[i] == "-address" && args[i+1] == socket {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// cgroupMounts are the cgroup hierarchies of the machine: one per v1
// controller, and the unified one.
func cgroupMounts() []string {
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	// cgroup v2 only: the root is the hierarchy.
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.procs"); err == nil {
		out = []string{"/sys/fs/cgroup"}
	}
	return out
}

func cgroupPids(root string) []int {
	var pids []int
	for _, m := range cgroupMounts() {
		_ = filepath.WalkDir(filepath.Join(m, root), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			data, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// ensureCgroup makes root in every cgroup hierarchy, where the kubelet
// wants it to exist. A v1 cpuset cgroup has no CPUs or memory nodes until
// given its parent's.
func ensureCgroup(root string) error {
	for _, m := range cgroupMounts() {
		dir := m
		for _, part := range strings.Split(strings.Trim(root, "/"), "/") {
			parent := dir
			dir = filepath.Join(dir, part)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			if filepath.Base(m) != "cpuset" {
				continue
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				cur, _ := os.ReadFile(filepath.Join(dir, f))
				if len(strings.TrimSpace(string(cur))) > 0 {
					continue
				}
				from, err := os.ReadFile(filepath.Join(parent, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), from, 0o644); err != nil {
					return fmt.Errorf("%s: %w", filepath.Join(dir, f), err)
				}
			}
		}
	}
	return nil
}

// removeCgroups removes the cgroup directories under root in every
// hierarchy, deepest first (a cgroup is removed with rmdir, once empty),
// and root's parent when nothing else is left in it.
func removeCgroups(root string) error {
	var errs []error
	for _, m := range cgroupMounts() {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(m, root), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("cgroup %s: %w", d, err))
			}
		}
		removeIfEmpty(filepath.Join(m, filepath.Dir(root)))
	}
	return errors.Join(errs...)
}

// unmountUnder unmounts every mount at or below root, deepest first, until
// none is left (mounts can be stacked).
func unmountUnder(root string) error {
	if root == "" {
		return nil
	}
	for range 10 {
		mps := mountsUnder(root)
		if len(mps) == 0 {
			return nil
		}
		for _, mp := range mps {
			if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("unmount %s: %w", mp, err)
			}
		}
	}
	if mps := mountsUnder(root); len(mps) > 0 {
		return fmt.Errorf("still mounted under %s: %v", root, mps)
	}
	return nil
}

// mountsUnder lists the mount points at or below root, deepest first.
func mountsUnder(root string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	root = filepath.Clean(root)
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == root || strings.HasPrefix(mp, root+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMount undoes mountinfo's octal escapes of spaces and the like.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeBridge deletes the bridge and whatever is still attached to it
// (a veth whose pod's network namespace outlived its pod).
func removeBridge(name string) error {
	if _, err := net.InterfaceByName(name); err != nil {
		return nil
	}
	out, _ := exec.Command("ip", "-o", "link", "show", "master", name).Output()
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 1 {
			dev := strings.SplitN(strings.TrimSuffix(fields[1], ":"), "@", 2)[0]
			_ = ip("link", "del", dev)
		}
	}
	return ip("link", "del", name)
}

// removeStaleSockets removes the unix sockets in dir that nobody listens
// on any more: a killed shim's or kubelet's. A live one (another
// containerd's on this machine) is left alone.
func removeStaleSockets(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Type()&fs.ModeSocket == 0 {
			continue
		}
		p := filepath.Join(dir, e.Name())
		conn, err := net.DialTimeout("unix", p, time.Second)
		if err == nil {
			_ = conn.Close()
			continue
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			_ = os.Remove(p)
		}
	}
}

// removeLinksInto removes the symlinks in dir that point below target
// (the kubelet's /var/log/containers links to its pods' logs).
func removeLinksInto(dir, target string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if to, err := os.Readlink(p); err == nil && strings.HasPrefix(to, target+"/") {
			_ = os.Remove(p)
		}
	}
}

// removeIfEmpty removes each directory that is empty, in order.
func removeIfEmpty(dirs ...string) {
	for _, d := range dirs {
		_ = syscall.Rmdir(d)
	}
}
