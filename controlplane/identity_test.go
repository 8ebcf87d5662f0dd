package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/vfleet/vfleet/identity"
	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/stores"
)

// writeIdentity makes a vcluster's identity in a directory of its own, as
// an agent keeps the one its hub gives it.
func writeIdentity(t *testing.T) string {
	t.Helper()
	id, err := identity.New("test-vc")
	if err != nil {
		t.Fatal(err)
	}
	data, err := id.Data()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "identity")
	if err := identity.Write(dir, data); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestIdentityOutlivesAMove: a control plane started elsewhere, from
// another data directory over the same store and with the same identity,
// trusts what the first handed out (its admin kubeconfig, a service
// account's token) and is trusted by it. Another identity over the same
// data directory trusts neither.
func TestIdentityOutlivesAMove(t *testing.T) {
	ports, release, err := portclaim.Ports(2)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx := context.Background()
	id := writeIdentity(t)
	first, second := t.TempDir(), t.TempDir()
	backend := stores.EmbeddedBackend(first)

	cp, stop, _ := startWith(t, Config{Name: "test-vc", DataDir: first, IdentityDir: id, BinDir: k8sbin.Dir(), Backend: backend, Port: ports[0]})
	admin, err := kubeconfig.RESTConfig(cp.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	c := clientFor(t, admin)
	if _, err := c.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := c.CoreV1().ServiceAccounts("default").CreateToken(ctx, "robot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stop()

	// Elsewhere: another data directory and port, the same store.
	moved, stop, _ := startWith(t, Config{Name: "test-vc", DataDir: second, IdentityDir: id, BinDir: k8sbin.Dir(), Backend: backend, Port: ports[1]})
	for _, f := range []string{"ca.crt", "front-proxy-ca.crt", "sa.pub"} {
		a, errA := os.ReadFile(filepath.Join(first, "pki", f))
		b, errB := os.ReadFile(filepath.Join(second, "pki", f))
		if errA != nil || errB != nil || string(a) != string(b) {
			t.Errorf("pki/%s differs between the two data directories (%v, %v)", f, errA, errB)
		}
	}
	saved := rest.CopyConfig(admin)
	saved.Host = moved.Endpoint()
	if _, err := clientFor(t, saved).CoreV1().ServiceAccounts("default").Get(ctx, "robot", metav1.GetOptions{}); err != nil {
		t.Errorf("the admin kubeconfig of the first start, at the second's endpoint: %v", err)
	}
	robot := &rest.Config{Host: moved.Endpoint(), BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: saved.CAData}}
	if _, err := clientFor(t, robot).CoreV1().ServiceAccounts("default").Get(ctx, "robot", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		// Authenticated, so only forbidden: it has no role.
		t.Errorf("the first start's service-account token at the second: %v, want forbidden (authenticated, no role)", err)
	}
	stop()

	// Another identity over the same data directory: a new CA, so every
	// leaf is issued again, and what the old one handed out is refused.
	other, stop, _ := startWith(t, Config{Name: "test-vc", DataDir: second, IdentityDir: writeIdentity(t), BinDir: k8sbin.Dir(), Backend: backend, Port: ports[1]})
	defer stop()
	stale := rest.CopyConfig(saved)
	stale.Host = other.Endpoint()
	if _, err := clientFor(t, stale).CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("the old identity's kubeconfig works with a new identity")
	}
	if _, err := client(t, other).CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the new identity's own kubeconfig: %v", err)
	}
}

// TestABadIdentityIsRefused: a control plane whose identity is not whole
// does not start, and says what is missing.
func TestABadIdentityIsRefused(t *testing.T) {
	id := writeIdentity(t)
	if err := os.Remove(filepath.Join(id, identity.SAKey)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cp, err := New(Config{Name: "test-vc", DataDir: dir, IdentityDir: id, BinDir: k8sbin.Dir(), Backend: stores.EmbeddedBackend(dir), Port: 1, Log: &syncBuffer{}})
	if err == nil {
		err = cp.Run(context.Background())
	}
	if err == nil || !strings.Contains(err.Error(), "missing [sa.key]") {
		t.Errorf("a control plane with no sa.key in its identity: %v", err)
	}
}
