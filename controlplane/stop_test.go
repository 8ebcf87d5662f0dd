package controlplane

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vfleet/vfleet/internal/portclaim"
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
