package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vfleet/vfleet/internal/pki"
)

// lab is a gateway in front of TLS servers that each answer with their own
// name, as the apiservers of vclusters would, all under one CA.
type lab struct {
	t    *testing.T
	gw   *Gateway
	addr string
	ca   *pki.CA
}

func newLab(t *testing.T, opts Options) *lab {
	t.Helper()
	ca, err := pki.NewCA("vclusters")
	if err != nil {
		t.Fatal(err)
	}
	gw := New(opts, testr.New(t), prometheus.NewRegistry())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &lab{t: t, gw: gw, addr: ln.Addr().String(), ca: ca}
}

// backend starts a TLS server for serverName that answers its name, and
// returns its address.
func (l *lab) backend(serverName string) string {
	l.t.Helper()
	kp, err := l.ca.Issue(pki.Request{CommonName: serverName, DNSNames: []string{serverName}, Usage: pki.ServerAuth})
	if err != nil {
		l.t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		l.t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, serverName)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.StartTLS()
	l.t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// waitHeld waits until n connections are held.
func (l *lab) waitHeld(n float64) {
	l.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(l.gw.metrics.held) != n {
		if time.Now().After(deadline) {
			l.t.Fatalf("%v connections held; want %v", testutil.ToFloat64(l.gw.metrics.held), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *lab) route(serverName, address string, epoch int64) {
	l.gw.Routes().Set(Route{ServerName: serverName, VirtualCluster: types.NamespacedName{Namespace: "t", Name: serverName}, Address: address, Epoch: epoch})
}

// client is an HTTPS client that reaches serverName through the gateway,
// as a kubeconfig with tls-server-name does; each request opens its own
// connection.
func (l *lab) client(serverName string) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(l.ca.Cert)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: serverName},
		DisableKeepAlives: true,
	}}
}

func (l *lab) get(serverName string) (string, error) {
	resp, err := l.client(serverName).Get("https://" + l.addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestRoutesByServerName(t *testing.T) {
	l := newLab(t, DefaultOptions())
	for _, name := range []string{"a.t.vclusters.test", "b.t.vclusters.test"} {
		l.route(name, l.backend(name), 1)
	}
	for _, name := range []string{"a.t.vclusters.test", "b.t.vclusters.test", "a.t.vclusters.test"} {
		got, err := l.get(name)
		if err != nil || got != name {
			t.Errorf("GET through the gateway as %s = %q, %v; want the answer of %s", name, got, err, name)
		}
	}
}

func TestAnUnknownServerNameIsRefused(t *testing.T) {
	l := newLab(t, DefaultOptions())
	l.route("a.t.vclusters.test", l.backend("a.t.vclusters.test"), 1)
	for _, name := range []string{"b.t.vclusters.test", "A.t.vclusters.test.", ""} {
		_, err := l.get(name)
		if err == nil {
			t.Errorf("server name %q was routed; want a refusal", name)
			continue
		}
		// Go's client sends no SNI for "" (it would use the IP), and
		// the gateway refuses that as an unknown name too.
		if !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("server name %q: %v; want a TLS alert that says the name is unrecognized", name, err)
		}
	}
}

func TestNotTLSIsRefused(t *testing.T) {
	l := newLab(t, DefaultOptions())
	conn, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(conn)
	if want := []byte{21, 3, 3, 0, 2, 2, alertInternalError}; string(b) != string(want) {
		t.Errorf("a plaintext request got %v; want a TLS alert %v and the connection closed", b, want)
	}
}

func TestAConnectionIsHeldUntilItsVClusterIsReachable(t *testing.T) {
	l := newLab(t, DefaultOptions())
	name := "a.t.vclusters.test"
	// Known, but no epoch may be reached: a failover under way.
	l.route(name, "", 0)
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		body, err := l.get(name)
		got <- result{body, err}
	}()
	l.waitHeld(1)
	select {
	case r := <-got:
		t.Fatalf("the request ended while no epoch could be reached: %q, %v", r.body, r.err)
	default:
	}
	l.route(name, l.backend(name), 2)
	r := <-got
	if r.err != nil || r.body != name {
		t.Errorf("held request = %q, %v; want it answered by the new epoch", r.body, r.err)
	}
}

func TestAnAddressThatDoesNotAnswerIsRetriedUntilTheRouteMoves(t *testing.T) {
	l := newLab(t, DefaultOptions())
	name := "a.t.vclusters.test"
	// The old epoch's host is gone: nothing listens at its address.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	l.route(name, deadAddr, 1)
	got := make(chan error, 1)
	go func() {
		body, err := l.get(name)
		if err == nil && body != name {
			err = fmt.Errorf("answered %q", body)
		}
		got <- err
	}()
	l.waitHeld(1)
	l.route(name, l.backend(name), 2)
	if err := <-got; err != nil {
		t.Errorf("a request held over a dead address: %v; want the new epoch's answer", err)
	}
}

func TestTheHoldEnds(t *testing.T) {
	opts := DefaultOptions()
	opts.Hold = 200 * time.Millisecond
	l := newLab(t, opts)
	l.route("a.t.vclusters.test", "", 0)
	_, err := l.get("a.t.vclusters.test")
	if err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Errorf("a request past the hold: %v; want a TLS alert", err)
	}
}

func TestADeletedVClusterEndsItsHeldConnections(t *testing.T) {
	l := newLab(t, DefaultOptions())
	name := "a.t.vclusters.test"
	l.route(name, "", 0)
	got := make(chan error, 1)
	go func() {
		_, err := l.get(name)
		got <- err
	}()
	l.waitHeld(1)
	l.gw.Routes().Delete(name, types.NamespacedName{Namespace: "t", Name: name})
	select {
	case err := <-got:
		if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("a request held for a deleted vcluster: %v; want an unrecognized-name alert", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a request held for a deleted vcluster was still held 10s later")
	}
	if _, err := l.get(name); err == nil {
		t.Error("a deleted vcluster's name is still routed")
	}
}

// A connection made to one epoch is cut when the route moves to another,
// as an apiserver restart cuts it: no client stays on a fenced epoch.
func TestAMoveCutsConnectionsToTheOldEpoch(t *testing.T) {
	l := newLab(t, DefaultOptions())
	name := "a.t.vclusters.test"
	old := l.backend(name)
	l.route(name, old, 1)
	pool := x509.NewCertPool()
	pool.AddCert(l.ca.Cert)
	conn, err := tls.Dial("tcp", l.addr, &tls.Config{RootCAs: pool, ServerName: name})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	// The same epoch at the same address again changes nothing.
	l.route(name, old, 1)
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", name)
	buf := make([]byte, 4096)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := conn.Read(buf); err != nil || !strings.Contains(string(buf[:n]), name) {
		t.Fatalf("first request: %q, %v", buf[:n], err)
	}
	l.route(name, old, 2)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(buf); err == nil {
		t.Fatal("the connection to epoch 1 is still open after the route moved to epoch 2")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the connection to epoch 1 was not cut when the route moved")
	}
}

func TestAServerNameIsNotTakenFromItsVCluster(t *testing.T) {
	tbl := NewTable(nil)
	a := Route{ServerName: "x.t.vclusters.test", VirtualCluster: types.NamespacedName{Namespace: "t", Name: "a"}, Address: "127.0.0.1:1", Epoch: 1}
	b := a
	b.VirtualCluster.Name, b.Address = "b", "127.0.0.1:2"
	if !tbl.Set(a) {
		t.Fatal("the first claim was refused")
	}
	if tbl.Set(b) {
		t.Error("a second vcluster took a server name another holds")
	}
	tbl.Delete(a.ServerName, b.VirtualCluster)
	if r, ok, _ := tbl.Lookup(a.ServerName); !ok || r != a {
		t.Errorf("route = %+v, %v after another vcluster's delete; want %+v", r, ok, a)
	}
}

// uses records what the gateway says of vclusters' use.
type uses struct {
	mu   sync.Mutex
	seen []string
}

func (u *uses) Used(r Route, waking bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seen = append(u.seen, fmt.Sprintf("%s waking=%v", r.ServerName, waking))
}

func (u *uses) all() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

// A request says its vcluster is used; one held for a vcluster that
// nothing runs asks it to wake.
func TestUseIsReported(t *testing.T) {
	u := &uses{}
	opts := DefaultOptions()
	opts.Activity = u
	l := newLab(t, opts)
	const awake, asleep = "a.t.vclusters.test", "b.t.vclusters.test"
	l.route(awake, l.backend(awake), 1)
	if _, err := l.get(awake); err != nil {
		t.Fatal(err)
	}
	l.route(asleep, "", 0)
	done := make(chan error, 1)
	go func() {
		_, err := l.get(asleep)
		done <- err
	}()
	l.waitHeld(1)
	l.route(asleep, l.backend(asleep), 2)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := u.all()
	for _, want := range []string{awake + " waking=false", asleep + " waking=true", asleep + " waking=false"} {
		if !slices.Contains(got, want) {
			t.Errorf("uses reported %v; want %q among them", got, want)
		}
	}
}
