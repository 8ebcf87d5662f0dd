package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vfleet/vfleet/internal/portclaim"
)

// TestRenewsCertificatesBeforeTheyExpire fast-forwards the clock 300 days:
// every leaf certificate is then in the last quarter of its year, and
// renewal issues each again from the same CAs. The apiserver serves the
// new certificate without a restart; the published kubeconfig holds the
// new admin certificate and works, as does one handed out before; the
// controller-manager is started again on its new identity, and that is no
// crash.
func TestRenewsCertificatesBeforeTheyExpire(t *testing.T) {
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	cp, _, log := start(t, t.TempDir(), ports[0])
	ctx := context.Background()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	served := func() *x509.Certificate {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only to read what is served
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		return conn.ConnectionState().PeerCertificates[0]
	}
	before := served()
	handedOut, err := os.ReadFile(cp.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	kcm := cp.Pid("kube-controller-manager")

	if renewed, err := cp.renew(ctx, time.Now()); err != nil || len(renewed) > 0 {
		t.Fatalf("fresh certificates renewed: %v, %v", renewed, err)
	}
	renewed, err := cp.renew(ctx, time.Now().Add(300*24*time.Hour))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if want := []string{"apiserver", "front-proxy-client", "admin", "controller-manager", "apiserver-kubelet-client", "dns", "kubelet-proxy"}; !slices.Equal(renewed, want) {
		t.Fatalf("renewed %v, want %v", renewed, want)
	}

	g := gomega.NewWithT(t)
	g.Eventually(func() bool { return served().SerialNumber.Cmp(before.SerialNumber) != 0 }).
		WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).Should(gomega.BeTrue(), "the apiserver still serves the old certificate")
	if now := served(); !now.NotAfter.After(before.NotAfter) || now.Issuer.String() != before.Issuer.String() {
		t.Fatalf("served %s until %s, before %s until %s", now.Issuer, now.NotAfter, before.Issuer, before.NotAfter)
	}

	published, err := os.ReadFile(cp.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	if adminCert(t, published).Equal(adminCert(t, handedOut)) {
		t.Fatal("the published kubeconfig still holds the old admin certificate")
	}
	if _, err := client(t, cp).CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("the renewed kubeconfig: %v", err)
	}
	old, err := clientcmd.RESTConfigFromKubeConfig(handedOut)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clientFor(t, old).CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("a kubeconfig handed out before the renewal: %v", err)
	}

	g.Eventually(func() bool {
		pid := cp.Pid("kube-controller-manager")
		return pid != 0 && pid != kcm
	}).WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).Should(gomega.BeTrue(), "the controller-manager was not started again")
	if r := cp.Restarts(); r != 0 {
		t.Fatalf("the planned restart counted as %d crashes\n%s", r, log)
	}
}

// adminCert is the client certificate a kubeconfig carries.
func adminCert(t *testing.T, kc []byte) *x509.Certificate {
	t.Helper()
	cfg, err := clientcmd.Load(kc)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		block, _ := pem.Decode(a.ClientCertificateData)
		if block == nil {
			t.Fatal("no client certificate")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	t.Fatal("no user")
	return nil
}
