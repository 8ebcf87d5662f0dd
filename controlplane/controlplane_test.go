package controlplane

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/internal/tracing"
	"github.com/vfleet/vfleet/internal/tracing/tracingtest"
	"github.com/vfleet/vfleet/stores"
)

// syncBuffer is a log the control plane writes from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs a control plane over dir, with its state in dir too, until the
// returned stop is called.
func start(t *testing.T, dir string, port int) (*ControlPlane, func(), *syncBuffer) {
	t.Helper()
	return startOn(t, dir, port, stores.EmbeddedBackend(dir))
}

// startOn runs a control plane over dir with its state in backend.
func startOn(t *testing.T, dir string, port int, backend string) (*ControlPlane, func(), *syncBuffer) {
	t.Helper()
	return startWith(t, Config{Name: "test-vc", DataDir: dir, BinDir: k8sbin.Dir(), Backend: backend, Port: port})
}

// startWith runs a control plane of cfg, logging into the buffer returned.
func startWith(t *testing.T, cfg Config) (*ControlPlane, func(), *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	cfg.Log = log
	cp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx) }()
	select {
	case <-cp.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("control plane stopped before it was ready: %v\n%s", err, log)
	case <-time.After(90 * time.Second):
		cancel()
		t.Fatalf("control plane not ready after 90s (Run: %v)\n%s", <-done, log)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			pids := []int{cp.Pid("kube-apiserver"), cp.Pid("kube-controller-manager")}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			for _, pid := range pids {
				if procgroup.Alive(pid) {
					t.Errorf("pid %d outlived its control plane", pid)
				}
			}
		})
	}
	t.Cleanup(stop)
	return cp, stop, log
}

func client(t *testing.T, cp *ControlPlane) kubernetes.Interface {
	t.Helper()
	cfg, err := kubeconfig.RESTConfig(cp.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	return clientFor(t, cfg)
}

func clientFor(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEmbeddedControlPlaneKeepsItsState runs a real kube-apiserver over
// kine and SQLite, writes to it, stops it, and finds the write again after
// a restart on the same data directory. Its first start, for a create,
// records its steps in the create's trace; the restart, for none,
// records nothing.
func TestEmbeddedControlPlaneKeepsItsState(t *testing.T) {
	spans := tracingtest.Record(t)
	const create = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	dir := t.TempDir()
	ctx := context.Background()

	cp, stop, _ := startWith(t, Config{Name: "test-vc", DataDir: dir, BinDir: k8sbin.Dir(), Backend: stores.EmbeddedBackend(dir), Port: ports[0], Traceparent: create})
	checkStartSpans(t, spans.GetSpans(), create)
	spans.Reset()
	// Its metrics file, for its agent, has its apiserver's requests.
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(MetricsPath(dir))
		if err == nil && strings.Contains(string(data), apiserverRequests+`{code="200",verb="GET"}`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no apiserver requests in %s after 30s (%v):\n%s", MetricsPath(dir), err, data)
		}
		time.Sleep(200 * time.Millisecond)
	}
	v, err := client(t, cp).Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != k8sbin.Version {
		t.Fatalf("vcluster serves %s, want %s", v.GitVersion, k8sbin.Version)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kept", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := client(t, cp).CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stop()

	cp, _, _ = start(t, dir, ports[0])
	got, err := client(t, cp).CoreV1().ConfigMaps("default").Get(ctx, "kept", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("after restart: %v %v", got, err)
	}
	if n := len(spans.GetSpans()); n != 0 {
		t.Errorf("a start for no operation recorded %d spans", n)
	}
}

// checkStartSpans: a start records its store and its apiserver, both
// children of the operation's span parent names, neither failed.
func checkStartSpans(t *testing.T, spans tracetest.SpanStubs, parent string) {
	t.Helper()
	want, _ := tracing.Parse(parent)
	byName := tracingtest.ByName(spans)
	for _, name := range []string{spanStore, spanAPIServer} {
		s, ok := byName[name]
		switch {
		case !ok:
			t.Errorf("no span %q among %d", name, len(spans))
		case s.Parent.SpanID() != want.SpanID() || s.SpanContext.TraceID() != want.TraceID():
			t.Errorf("%q is span %s under %s, want a child of %s", name, s.SpanContext.SpanID(), s.Parent.SpanID(), parent)
		case s.Status.Code == codes.Error:
			t.Errorf("%q failed: %s", name, s.Status.Description)
		}
	}
}

// TestCrashedAPIServerIsRestarted kills the apiserver and expects the
// supervisor to bring it back and count the restart.
func TestCrashedAPIServerIsRestarted(t *testing.T) {
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	cp, _, log := start(t, t.TempDir(), ports[0])
	pid := cp.Pid("kube-apiserver")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if cp.Restarts() >= 1 && cp.Pid("kube-apiserver") != 0 && cp.Pid("kube-apiserver") != pid {
			if _, err := client(t, cp).Discovery().ServerVersion(); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("apiserver not back: restarts %d\n%s", cp.Restarts(), log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "kube-apiserver of test-vc exited") {
		t.Fatalf("the crash was not reported:\n%s", log)
	}
}

// TestAPIServerThatCannotStartIsGivenUpOn takes the apiserver's port
// first: the control plane must give up after a few attempts and report the
// apiserver's own error, not retry for ever in silence.
func TestAPIServerThatCannotStartIsGivenUpOn(t *testing.T) {
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	dir := t.TempDir()
	cp, err := New(Config{Name: "taken", DataDir: dir, BinDir: k8sbin.Dir(), Backend: stores.EmbeddedBackend(dir), Port: ports[0], MaxStartFailures: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = cp.Run(ctx)
	var start *StartError
	if !errors.As(err, &start) {
		t.Fatalf("Run = %v, want a StartError", err)
	}
	if !strings.Contains(start.Reason, "address already in use") {
		t.Fatalf("the reason does not carry the apiserver's error: %q", start.Reason)
	}
	st, err := ReadStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != PhaseFailed || !strings.Contains(st.Message, "address already in use") {
		t.Fatalf("status = %+v, want Failed with the apiserver's error", st)
	}
}

// TestOrphanedControlPlaneStops: a control plane whose agent has been gone
// for the grace period stops by itself, and one whose agent holds the
// lifeline keeps running.
func TestOrphanedControlPlaneStops(t *testing.T) {
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	dir := t.TempDir()
	lifeline := filepath.Join(t.TempDir(), "agent.lock")
	f, err := os.Create(lifeline)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	cp, err := New(Config{Name: "orphan", DataDir: dir, BinDir: k8sbin.Dir(), Backend: stores.EmbeddedBackend(dir), Port: ports[0],
		Lifeline: lifeline, OrphanGrace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cp.Run(context.Background()) }()
	select {
	case <-cp.Ready():
	case err := <-done:
		t.Fatalf("stopped before ready: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("not ready after 90s")
	}
	if st, err := ReadStatus(dir); err != nil || st.Phase != PhaseRunning || st.Pid != os.Getpid() {
		t.Fatalf("status = %+v, %v; want Running with this pid", st, err)
	}
	// Held lifeline: still running well past the grace.
	select {
	case err := <-done:
		t.Fatalf("stopped while its agent held the lifeline: %v", err)
	case <-time.After(4 * time.Second):
	}
	f.Close() // the agent is gone
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "agent was gone") {
			t.Fatalf("Run = %v, want the orphan reason", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("orphaned control plane still running 30s after its agent left")
	}
}
