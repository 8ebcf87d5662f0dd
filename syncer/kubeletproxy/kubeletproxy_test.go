package kubeletproxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/vfleet/vfleet/internal/names"
	"github.com/vfleet/vfleet/internal/pki"
)

func TestTranslate(t *testing.T) {
	s, err := New(Config{
		Host: &rest.Config{Host: "https://127.0.0.1:6443", BearerToken: "t"}, HostNamespace: "vc-demo-x-team", VCluster: "demo",
		ClientCA: []byte("unused"), ClientName: "kube-apiserver-kubelet-client",
	})
	if err != nil {
		t.Fatal(err)
	}
	pod := func(name, ns, sub string) string {
		return "/api/v1/namespaces/vc-demo-x-team/pods/" + names.HostName(name, ns, "demo") + "/" + sub
	}
	for _, tc := range []struct {
		name, in string
		path     string
		query    url.Values
		status   int
	}{
		{name: "logs keep their options, and only those", in: "/containerLogs/default/web-1/app?follow=true&tailLines=10&timestamps=true&namespace=kube-system",
			path: pod("web-1", "default", "log"), query: url.Values{"container": {"app"}, "follow": {"true"}, "tailLines": {"10"}, "timestamps": {"true"}}},
		{name: "exec renames the stream parameters", in: "/exec/team/db/postgres?command=sh&command=-c&command=ls+%2F&input=1&output=1&error=1&tty=0",
			path: pod("db", "team", "exec"), query: url.Values{"container": {"postgres"}, "command": {"sh", "-c", "ls /"}, "stdin": {"true"}, "stdout": {"true"}, "stderr": {"true"}}},
		{name: "attach", in: "/attach/default/web-1/app?output=true&tty=true",
			path: pod("web-1", "default", "attach"), query: url.Values{"container": {"app"}, "stdout": {"true"}, "tty": {"true"}}},
		{name: "port-forward names no container", in: "/portForward/default/web-1?port=8080",
			path: pod("web-1", "default", "portforward"), query: url.Values{"port": {"8080"}}},
		{name: "the node's own API is not served", in: "/stats/summary", status: http.StatusNotFound},
		{name: "nor its logs", in: "/logs/syslog", status: http.StatusNotFound},
		{name: "nor a pod path with a UID", in: "/exec/default/web-1/0f1e/app", status: http.StatusNotFound},
		{name: "a path that climbs out", in: "/exec/..%2F..%2Fkube-system/web-1/app", status: http.StatusNotFound},
		{name: "a namespace that is no name", in: "/exec/Kube_System/web-1/app", status: http.StatusBadRequest},
		{name: "a pod that is no name", in: "/containerLogs/default/WEB/app", status: http.StatusBadRequest},
		{name: "a container that is no name", in: "/containerLogs/default/web/a.b", status: http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := url.Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.translate(in)
			if tc.status != 0 {
				if err == nil || statusOf(err) != tc.status {
					t.Fatalf("got %v, %v; want status %d", got.url, err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out := got.url
			if out.Host != "127.0.0.1:6443" || out.Path != tc.path {
				t.Errorf("got %s%s, want 127.0.0.1:6443%s", out.Host, out.Path, tc.path)
			}
			if got := out.Query(); got.Encode() != tc.query.Encode() {
				t.Errorf("query %s, want %s", got.Encode(), tc.query.Encode())
			}
		})
	}
}

// TestOnlyTheAPIServerIsLetIn serves on loopback with certificates from
// one CA: a client certificate of another name from the same CA is
// refused, one from another CA does not get past TLS, and the vcluster's
// apiserver's gets to the host (here: nothing listens there, so the
// proxy says so).
func TestOnlyTheAPIServerIsLetIn(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("vc-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.IssueAll(dir, []pki.Issue{{File: "serving", CA: ca, Request: pki.Request{CommonName: "proxy", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.ServerAuth}}}); err != nil {
		t.Fatal(err)
	}
	unused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostAddr := unused.Addr().String()
	_ = unused.Close()
	s, err := New(Config{
		Host: &rest.Config{Host: "https://" + hostAddr, BearerToken: "t", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, HostNamespace: "vc-demo-x-team", VCluster: "demo",
		ServingCert: filepath.Join(dir, "serving.crt"), ServingKey: filepath.Join(dir, "serving.key"),
		ClientCA: ca.CertPEM(), ClientName: "kube-apiserver-kubelet-client",
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM())
	get := func(from *pki.CA, cn string) (int, string, error) {
		kp, err := from.Issue(pki.Request{CommonName: cn, Usage: pki.ClientAuth})
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}}}
		resp, err := c.Get("https://" + l.Addr().String() + "/containerLogs/default/web-1/app")
		if err != nil {
			return 0, "", err
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), nil
	}
	if code, body, err := get(ca, "tenant"); err != nil || code != http.StatusForbidden {
		t.Errorf("another name of the same CA: %d %q %v, want 403", code, body, err)
	}
	if _, _, err := get(other, "kube-apiserver-kubelet-client"); err == nil {
		t.Error("a certificate of another CA got past TLS")
	}
	if code, body, err := get(ca, "kube-apiserver-kubelet-client"); err != nil || code != http.StatusBadGateway || !strings.Contains(body, "host's apiserver") {
		t.Errorf("the apiserver: %d %q %v, want 502 from the host it tried", code, body, err)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestHostRefusalsNameTheTenantsPod: an error the host answers names the
// pod's host copy and namespace; the tenant reads its own names. A stream
// that works passes as it is.
func TestHostRefusalsNameTheTenantsPod(t *testing.T) {
	hostPod := names.HostName("web-1", "shop", "demo")
	r := &renaming{names: strings.NewReplacer("vc-demo-x-team/"+hostPod, "shop/web-1", hostPod, "web-1", "vc-demo-x-team", "shop")}
	for _, tc := range []struct {
		status   int
		in, want string
	}{
		{400, `{"message":"container \"web\" in pod \"` + hostPod + `\" is waiting to start: CreateContainerConfigError"}`,
			`{"message":"container \"web\" in pod \"web-1\" is waiting to start: CreateContainerConfigError"}`},
		{404, `pods "` + hostPod + `" not found in namespace vc-demo-x-team`, `pods "web-1" not found in namespace shop`},
		{200, "a log line that says " + hostPod, "a log line that says " + hostPod},
	} {
		r.rt = roundTripperFunc(func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: tc.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tc.in))}, nil
		})
		resp, err := r.RoundTrip(&http.Request{})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if string(body) != tc.want {
			t.Errorf("%d %q: got %q, want %q", tc.status, tc.in, body, tc.want)
		}
	}
}
