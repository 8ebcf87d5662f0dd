package procgroup

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a parent that starts a child through
// this package, prints the child's pid and then waits to be killed.
const helperEnv = "PROCGROUP_TEST_PARENT"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		p, err := Start(Spec{Name: "child", Path: "sleep", Args: []string{"300"}})
		if err != nil {
			os.Exit(2)
		}
		_, _ = os.Stdout.WriteString(strconv.Itoa(p.Pid()) + "\n")
		select {}
	}
	os.Exit(m.Run())
}

func mustStart(t *testing.T, spec Spec) *Process {
	t.Helper()
	p, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func procState(pid int) byte {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(stat)
	return s[strings.LastIndexByte(s, ')')+2]
}

func TestStopTerminatesGracefully(t *testing.T) {
	log := filepath.Join(t.TempDir(), "out.log")
	// The shell traps TERM and exits 0, which shows Stop used SIGTERM.
	p := mustStart(t, Spec{Name: "sh", Path: "sh", Args: []string{"-c", `trap "echo bye; exit 0" TERM; echo hello; while :; do sleep 0.1; done`}, LogFile: log})
	waitFor(t, "hello in log", func() bool { return strings.Contains(TailFile(log, 5), "hello") })

	if err := p.Stop(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	exited, err := p.Exited()
	if !exited || err != nil {
		t.Fatalf("exited=%v err=%v, want a clean exit", exited, err)
	}
	if got := p.LogTail(1); got != "bye" {
		t.Fatalf("last log line %q, want %q", got, "bye")
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	log := filepath.Join(t.TempDir(), "out.log")
	p := mustStart(t, Spec{Name: "sh", Path: "sh", Args: []string{"-c", `trap "" TERM; echo trapped; while :; do sleep 0.1; done`}, LogFile: log})
	waitFor(t, "the shell to ignore TERM", func() bool { return strings.Contains(TailFile(log, 5), "trapped") })
	if err := p.Stop(context.Background(), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if Alive(p.Pid()) {
		t.Fatal("process still alive after Stop")
	}
}

func TestPauseResumeAndKill(t *testing.T) {
	p := mustStart(t, Spec{Name: "sleep", Path: "sleep", Args: []string{"300"}})
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "state T", func() bool { return procState(p.Pid()) == 'T' })
	if !p.Paused() {
		t.Fatal("Paused() = false after Pause")
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "state S", func() bool { return procState(p.Pid()) == 'S' })

	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if Alive(p.Pid()) {
		t.Fatal("alive after Kill")
	}
	// Signalling an exited process is harmless.
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

func TestStopPausedProcess(t *testing.T) {
	p := mustStart(t, Spec{Name: "sleep", Path: "sleep", Args: []string{"300"}})
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if exited, _ := p.Exited(); !exited {
		t.Fatal("paused process survived Stop")
	}
}

// TestChildDiesWithParent kills a parent by SIGKILL, the way a test binary
// dies on timeout, and checks that its child goes with it.
func TestChildDiesWithParent(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	parent := exec.Command(self)
	parent.Env = append(os.Environ(), helperEnv+"=1")
	stdout, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = parent.Process.Kill()
		t.Fatalf("reading child pid: %v", err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(line))
	if !Alive(child) {
		t.Fatalf("child %d not running", child)
	}

	_ = parent.Process.Kill()
	_ = parent.Wait()
	waitFor(t, "child to die with its parent", func() bool { return !Alive(child) })
}

func TestTailFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	content := "old run\n==== marker\nline1\nline2\nline3\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    int
		want string
	}{
		{1, "line3"},
		{2, "line2\nline3"},
		{10, "line1\nline2\nline3"},
	} {
		if got := TailFile(path, tc.n); got != tc.want {
			t.Errorf("TailFile(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	if got := TailFile(filepath.Join(t.TempDir(), "missing"), 3); got != "" {
		t.Errorf("missing file gave %q", got)
	}
}
