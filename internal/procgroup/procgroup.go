package procgroup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec says what to run.
type Spec struct {
	// Name identifies the process in errors, for example "host-1/etcd".
	Name string
	// Path is the executable.
	Path string
	Args []string
	// Env is added to the parent's environment; later entries win.
	Env []string
	// Dir is the working directory; empty means the parent's.
	Dir string
	// LogFile receives stdout and stderr. It is appended to, so a restart
	// keeps the history of the previous run.
	LogFile string
	// Detached starts the child in a session of its own that outlives this
	// process: no death signal when the parent exits. For children that a
	// restarted parent adopts (the agent's control planes).
	Detached bool
	// Credential runs the child as another user; nil means this process's.
	// Some servers (PostgreSQL) refuse to run as root.
	Credential *syscall.Credential
	// StopSignal asks the process to stop; zero means SIGTERM. PostgreSQL
	// takes SIGINT, its fast shutdown: on SIGTERM it waits for every client
	// to leave.
	StopSignal syscall.Signal
}

// Process is a started child. Its methods are safe for concurrent use.
type Process struct {
	spec Spec
	cmd  *exec.Cmd
	done chan struct{}

	mu     sync.Mutex
	err    error // exit status, set once done is closed
	paused bool
}

// Start starts spec's process in a new process group.
func Start(spec Spec) (*Process, error) {
	if spec.Name == "" {
		spec.Name = spec.Path
	}
	out := io.Writer(io.Discard)
	var logFile *os.File
	if spec.LogFile != "" {
		f, err := os.OpenFile(spec.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("%s: open log: %w", spec.Name, err)
		}
		fmt.Fprintf(f, "\n==== %s: starting %s %s\n", time.Now().Format(time.RFC3339), spec.Path, strings.Join(spec.Args, " "))
		logFile, out = f, f
	}

	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group, so signals reach anything the child forks.
		Setpgid: true,
		// The kernel kills the child when the thread that forked it exits;
		// spawnThread keeps that thread alive for the life of this process.
		Pdeathsig: syscall.SIGKILL,
	}
	if spec.Detached {
		// A new session is also a new process group.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	cmd.SysProcAttr.Credential = spec.Credential

	var err error
	onSpawnThread(func() { err = cmd.Start() })
	if logFile != nil {
		// The child holds its own descriptor now.
		logFile.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: start: %w", spec.Name, err)
	}

	p := &Process{spec: spec, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Name returns the name the process was started with.
func (p *Process) Name() string { return p.spec.Name }

// Pid returns the child's process id, which is also its process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the child has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the child has exited, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

// Paused reports whether the process group was stopped with Pause.
func (p *Process) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// Signal sends sig to the child's whole process group. Signalling a child that
// has already exited is not an error.
func (p *Process) Signal(sig syscall.Signal) error {
	if exited, _ := p.Exited(); exited {
		return nil
	}
	if err := syscall.Kill(-p.Pid(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%s: signal %v: %w", p.spec.Name, sig, err)
	}
	return nil
}

// Pause freezes the process group with SIGSTOP, as a hung machine would be.
func (p *Process) Pause() error {
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
	return nil
}

// Resume continues a paused process group with SIGCONT.
func (p *Process) Resume() error {
	if err := p.Signal(syscall.SIGCONT); err != nil {
		return err
	}
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
	return nil
}

// Kill sends SIGKILL to the process group and waits until the child is reaped.
func (p *Process) Kill() error {
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}

// Stop asks the process group to exit with SIGTERM and waits for it. If the
// child is still running after grace, or ctx ends first, it is killed.
func (p *Process) Stop(ctx context.Context, grace time.Duration) error {
	sig := p.spec.StopSignal
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	if err := p.Signal(sig); err != nil {
		return err
	}
	// A stopped process does not act on SIGTERM until it is continued.
	if err := p.Resume(); err != nil {
		return err
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	return p.Kill()
}

// LogTail returns the last n lines of the process's log file, for errors
// that should show what the child itself said.
func (p *Process) LogTail(n int) string {
	return TailFile(p.spec.LogFile, n)
}

// TailFile returns the last n lines of the file at path, or "" if it cannot be
// read.
func TailFile(path string, n int) string {
	if path == "" {
		return ""
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	// Only the last run matters; Start writes a marker before each.
	if i := bytes.LastIndex(data, []byte("\n==== ")); i >= 0 {
		if j := bytes.IndexByte(data[i+1:], '\n'); j >= 0 {
			data = data[i+1+j+1:]
		}
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// SignalGroup sends sig to the process group led by pid: a child started
// Detached by an earlier run of this program, say. A group that is gone is
// not an error.
func SignalGroup(pid int, sig syscall.Signal) error {
	if pid <= 0 {
		return fmt.Errorf("no process group %d", pid)
	}
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %v to process group %d: %w", sig, pid, err)
	}
	return nil
}

// StopGroup asks the process group led by pid to exit with SIGTERM, waits
// up to grace for its leader to be gone, then kills the group. It returns
// once the leader's descendants are gone too: children in process groups of
// their own (a control plane's apiserver) end after their parent.
func StopGroup(ctx context.Context, pid int, grace time.Duration) error {
	descendants := Descendants(pid)
	if err := SignalGroup(pid, syscall.SIGTERM); err != nil {
		return err
	}
	_ = SignalGroup(pid, syscall.SIGCONT)
	if !waitGone(ctx, []int{pid}, grace) {
		if err := SignalGroup(pid, syscall.SIGKILL); err != nil {
			return err
		}
	}
	if !waitGone(ctx, descendants, grace) {
		for _, d := range descendants {
			_ = syscall.Kill(d, syscall.SIGKILL)
		}
		waitGone(ctx, descendants, 5*time.Second)
	}
	return nil
}

// waitGone polls until none of pids is alive, for at most d.
func waitGone(ctx context.Context, pids []int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		alive := false
		for _, p := range pids {
			alive = alive || Alive(p)
		}
		if !alive {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Descendants returns the pids of pid's children, theirs, and so on, from
// whichever of their threads forked them.
func Descendants(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(data)) {
			if c, err := strconv.Atoi(field); err == nil {
				out = append(out, c)
				out = append(out, Descendants(c)...)
			}
		}
	}
	return out
}

// Alive reports whether a process with this pid exists and has not exited. A
// zombie is not alive: it has exited and only waits to be reaped, which an
// orphan's new parent (PID 1 in a container) may never do.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain spaces or parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

var (
	spawnOnce sync.Once
	spawnCh   chan func()
)

// onSpawnThread runs f on one OS thread that never exits. Pdeathsig fires when
// the forking *thread* dies, and the Go runtime may retire threads; forking
// from a thread locked for the life of the process makes the signal mean
// "the parent process died", which is what callers rely on.
func onSpawnThread(f func()) {
	spawnOnce.Do(func() {
		spawnCh = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for f := range spawnCh {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawnCh <- func() {
		defer close(done)
		f()
	}
	<-done
}
