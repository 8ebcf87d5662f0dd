package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/portclaim"
)

// TestARestartDoesNotWaitForTheStoresDefaultObjects: the first start over
// a store waits until the apiserver has made its default RBAC roles and
// priority classes, and records it; a restart over the same store does
// not wait for that again (a wake would, a second and more), and the
// roles are there as soon as it is ready: the controller-manager's
// identity is let in at once.
func TestARestartDoesNotWaitForTheStoresDefaultObjects(t *testing.T) {
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	dir := t.TempDir()
	cp, stop, _ := start(t, dir, ports[0])
	if !cp.bootstrapped() {
		t.Fatal("the first start did not record that the store has its default objects")
	}
	stop()

	cp, stop, log := start(t, dir, ports[0])
	defer stop()
	cfg, err := kubeconfig.RESTConfig(cp.pki(kubeconfigKCM))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clientFor(t, cfg).CoreV1().Pods("").List(context.Background(), metav1.ListOptions{Limit: 1}); err != nil {
		t.Fatalf("ready after a restart, the controller-manager is not let in: %v\n%s", err, log)
	}

	// Other binaries, or another store, and it waits for every check again.
	for _, change := range []func(*Config){
		func(c *Config) { c.BinDir = filepath.Join(c.BinDir, "..", "v9.99.0") },
		func(c *Config) { c.Backend += "-other" },
	} {
		other := &ControlPlane{cfg: cp.cfg}
		change(&other.cfg)
		if other.bootstrapped() {
			t.Errorf("a start of other binaries, or over another store (%s, %s), would not wait for their default objects", other.cfg.BinDir, other.cfg.Backend)
		}
	}
	if err := os.Remove(filepath.Join(dir, bootstrappedFile)); err != nil {
		t.Fatal(err)
	}
	if cp.bootstrapped() {
		t.Error("with no record, a start would not wait for the default objects")
	}
}
