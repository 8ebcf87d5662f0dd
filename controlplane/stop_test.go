package controlplane

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/stores"
	"github.com/vfleet/vfleet/syncer"
)

// TestAWatchDoesNotHoldUpTheStop stops a control plane while a client
// watches it. The apiserver must end the watch and exit by itself; before
// it was told to, it waited for the watch's connection to go idle until it
// was killed, and every migration waited with it.
func TestAWatchDoesNotHoldUpTheStop(t *testing.T) {
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	cp, stop, log := start(t, t.TempDir(), ports[0])
	w, err := client(t, cp).CoreV1().ConfigMaps("").Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ended := make(chan struct{})
	go func() {
		for range w.ResultChan() {
		}
		close(ended)
	}()

	stop()
	if out := log.String(); strings.Contains(out, "was killed") {
		t.Fatalf("a process had to be killed:\n%s", out)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch was still open after the control plane stopped")
	}
}

// TestTheKubeletProxyStopsWithItsControlPlane: the kubelet proxy keeps its
// listener across its own restarts, yet must let go of it when the control
// plane stops. It once kept it open, its server's shutdown waited for an
// accept that never returned, and every stop took the agent's whole grace.
func TestTheKubeletProxyStopsWithItsControlPlane(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "host.kubeconfig")
	// A host that is never asked: nothing calls the proxy.
	if err := os.WriteFile(host, []byte(`apiVersion: v1
kind: Config
clusters: [{name: host, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: vc, user: {token: t}}]
contexts: [{name: host, context: {cluster: host, user: vc}}]
current-context: host
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cp, err := New(Config{Name: "proxied", DataDir: dir, BinDir: k8sbin.Dir(), Backend: stores.EmbeddedBackend(dir), Port: 1,
		Sync: &SyncConfig{HostKubeconfig: host, HostNamespace: "vc-proxied-x-default", VCluster: syncer.Identity{Name: "proxied", Namespace: "default"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.ensurePKI(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		cp.runKubeletProxy(ctx, l)
		close(done)
	}()
	// Serving: it answers a TLS handshake.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			_ = c.Close()
		}
		if err == nil || strings.Contains(err.Error(), "remote error") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kubelet proxy does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the kubelet proxy still ran 15s after its control plane was told to stop")
	}
	if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		t.Error("the kubelet proxy's port still accepts connections after its stop")
	}
}
