package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/test/envtest"
)

// TestForwardZones: a class cannot forward the vcluster's own zones, nor
// one below them, where the host's names are.
func TestForwardZones(t *testing.T) {
	got := forwardZones([]string{"Example.com.", "example.com", "svc.cluster.local", "cluster.local", "10.in-addr.arpa", "", "local", "corp.example"})
	if want := "example.com,local,corp.example"; strings.Join(got, ",") != want {
		t.Errorf("forwardZones = %q, want %s", got, want)
	}
}

// TestTenantDNS runs CoreDNS on the Corefile of each external-names policy,
// over a real API server and with a real CoreDNS upstream that knows two
// outside names, and asks it what a tenant's pod would.
func TestTenantDNS(t *testing.T) {
	bin := k8sbin.CoreDNS()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("CoreDNS not found (make binaries builds it): %v", err)
	}
	env, cfg, err := envtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := t.Context()
	kube := kubernetes.NewForConfigOrDie(cfg)
	web, err := kube.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := kubeconfig.Write(kc, kubeconfig.Identity{Cluster: "vc", Server: cfg.Host, CAPEM: cfg.CAData, User: "admin", CertPEM: cfg.CertData, KeyPEM: cfg.KeyData}); err != nil {
		t.Fatal(err)
	}

	upstreamPort := runCoreDNS(t, bin, dir, "upstream", func(port int) string {
		return fmt.Sprintf("vfleet.test:%[1]d elsewhere.test:%[1]d {\n    bind 127.0.0.1\n    hosts {\n        192.0.2.53 www.vfleet.test www.elsewhere.test\n    }\n}\n", port)
	})
	const apiAddress = "192.0.2.1"
	for _, tc := range []struct {
		policy fleetv1.ExternalNamesPolicy
		zones  []string
		// resolves: of www.vfleet.test and www.elsewhere.test
		vfleet, elsewhere bool
	}{
		{policy: "", vfleet: true, elsewhere: true},
		{policy: fleetv1.ExternalNamesNone},
		{policy: fleetv1.ExternalNamesZones, zones: []string{"vfleet.test", "svc.cluster.local"}, vfleet: true},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			port := runCoreDNS(t, bin, dir, "tenant-"+string(tc.policy), func(port int) string {
				return corefile{
					Address: "127.0.0.1", Port: port, Kubeconfig: kc, APIAddress: apiAddress,
					ExternalNames: tc.policy, Zones: tc.zones, Upstreams: []string{fmt.Sprintf("127.0.0.1:%d", upstreamPort)},
				}.String()
			})
			ask := resolverAt(port)
			// The API's name is where pods reach the API, not its
			// ClusterIP; the first answer waits for the server to start.
			waitFor(t, func() error { return expectAddress(ctx, ask, "kubernetes.default.svc.cluster.local", apiAddress) })
			if err := expectAddress(ctx, ask, "web.default.svc.cluster.local", web.Spec.ClusterIP); err != nil {
				t.Error(err)
			}
			for name, want := range map[string]bool{"www.vfleet.test": tc.vfleet, "www.elsewhere.test": tc.elsewhere} {
				err := expectAddress(ctx, ask, name, "192.0.2.53")
				if want && err != nil {
					t.Errorf("%s: %v", name, err)
				}
				var dnsErr *net.DNSError
				if !want && (!errors.As(err, &dnsErr) || !dnsErr.IsNotFound) {
					t.Errorf("%s: want NXDOMAIN, got %v", name, err)
				}
			}
			// A name under cluster.local is the vcluster's own, never
			// forwarded, even where the class names a zone below it.
			if _, err := ask.LookupHost(ctx, "kube-dns.kube-system.svc.cluster.local"); err == nil {
				t.Error("a name the vcluster does not have resolved")
			}
		})
	}
}

// runCoreDNS runs CoreDNS on 127.0.0.1 on the Corefile conf renders for a
// free port, until the test ends, and returns the port.
func runCoreDNS(t *testing.T, bin, dir, name string, conf func(port int) string) int {
	t.Helper()
	port, err := freeDNSPort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+".Corefile")
	if err := os.WriteFile(file, []byte(conf(port)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-conf", file)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("CoreDNS %s:\n%s", name, out.String())
		}
	})
	return port
}

func resolverAt(port int) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
	}}
}

func expectAddress(ctx context.Context, r *net.Resolver, name, want string) error {
	addrs, err := r.LookupHost(ctx, name)
	if err != nil {
		return err
	}
	if len(addrs) != 1 || addrs[0] != want {
		return fmt.Errorf("%s resolves to %v, want %s", name, addrs, want)
	}
	return nil
}

// waitFor polls check until it passes, for up to 30 s.
func waitFor(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
