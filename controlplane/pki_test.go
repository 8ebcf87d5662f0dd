package controlplane

import (
	"bytes"
	"os"
	"slices"
	"testing"

	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/pki"
	"github.com/vfleet/vfleet/stores"
)

// A name added to a data directory's control plane (the gateway's server
// name, once the region has a gateway) issues the serving certificate
// again, from the same CA: a kubeconfig handed out before still trusts it.
func TestANewServerNameIssuesTheServingCertificateAgain(t *testing.T) {
	dir := t.TempDir()
	pkiOf := func(sans ...string) *ControlPlane {
		t.Helper()
		cp, err := New(Config{Name: "test-vc", DataDir: dir, BinDir: k8sbin.Dir(), Backend: stores.EmbeddedBackend(dir), Port: 1, SANs: sans, Log: &syncBuffer{}})
		if err != nil {
			t.Fatal(err)
		}
		if err := cp.ensurePKI(); err != nil {
			t.Fatal(err)
		}
		return cp
	}
	read := func(cp *ControlPlane, name string) []byte {
		t.Helper()
		b, err := os.ReadFile(cp.pki(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := pkiOf()
	ca, serving, admin := read(first, "ca.crt"), read(first, "apiserver.crt"), read(first, "admin.crt")
	if again := pkiOf(); !bytes.Equal(read(again, "apiserver.crt"), serving) {
		t.Error("the serving certificate was issued again with no new name")
	}
	const name = "test-vc.t.vclusters.test"
	second := pkiOf(name)
	cert, err := pki.ParseCert(read(second, "apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cert.DNSNames, name) {
		t.Errorf("serving certificate names %v; want %s among them", cert.DNSNames, name)
	}
	if !bytes.Equal(read(second, "ca.crt"), ca) || !bytes.Equal(read(second, "admin.crt"), admin) {
		t.Error("a new server name changed the CA or the admin's certificate")
	}
}
