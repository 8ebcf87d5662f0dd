// Package kubeletproxy serves the kubelet API to a vcluster's apiserver, so
// that `kubectl logs`, `exec`, `attach` and `port-forward` work in the
// vcluster. The vcluster's apiserver asks a node's kubelet for a pod by its
// virtual namespace and name, which no host kubelet knows; the syncer
// shows it its nodes at this server instead, which asks the host's
// apiserver for the same thing of the pod's host copy, with the syncer's
// host credentials: what the vcluster may do on the host stays what its
// syncer may do in its host namespace.
//
// Only the vcluster's apiserver may call it (a client certificate from
// the vcluster's CA, for one name), and only for the four subresources;
// every request names a pod of its own host namespace, by a name the
// syncer made.
package kubeletproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"github.com/vfleet/vfleet/internal/names"
)

// Config is what the server needs.
type Config struct {
	// Host reaches the host's apiserver with the syncer's rights in
	// HostNamespace (pods/log, exec, attach and portforward).
	Host          *rest.Config
	HostNamespace string
	// VCluster names the vcluster, for the host names of its pods.
	VCluster string
	// ServingCert and ServingKey are files, read again when they change
	// (the control plane renews them).
	ServingCert, ServingKey string
	// ClientCA verifies callers, and ClientName is the only one let in:
	// the vcluster's apiserver.
	ClientCA   []byte
	ClientName string
}

// Server is the kubelet API of a vcluster's nodes.
type Server struct {
	cfg      Config
	base     *url.URL
	plain    http.RoundTripper
	upgrades proxy.UpgradeRequestRoundTripper
	certs    *certFiles
}

// New checks cfg and builds the transports to the host.
func New(cfg Config) (*Server, error) {
	if cfg.Host == nil || cfg.HostNamespace == "" || cfg.VCluster == "" || cfg.ClientName == "" || len(cfg.ClientCA) == 0 {
		return nil, errors.New("kubeletproxy: Host, HostNamespace, VCluster, ClientCA and ClientName are required")
	}
	base, err := url.Parse(cfg.Host.Host)
	if err != nil {
		return nil, fmt.Errorf("host apiserver %q: %w", cfg.Host.Host, err)
	}
	if base.Scheme == "" {
		base.Scheme = "https"
	}
	plain, err := rest.TransportFor(cfg.Host)
	if err != nil {
		return nil, err
	}
	// An upgraded connection (exec, attach, port-forward) is a raw
	// stream over HTTP/1.1, with the host credentials added to the
	// request that opens it.
	tlsCfg, err := rest.TLSConfigFor(cfg.Host)
	if err != nil {
		return nil, err
	}
	if tlsCfg == nil {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tlsCfg.NextProtos = []string{"http/1.1"}
	wrapper, err := rest.HTTPWrappersForConfig(cfg.Host, proxy.MirrorRequest)
	if err != nil {
		return nil, err
	}
	upgrades := proxy.NewUpgradeRequestRoundTripper(&http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}, wrapper)
	return &Server{cfg: cfg, base: base, plain: plain, upgrades: upgrades, certs: &certFiles{cert: cfg.ServingCert, key: cfg.ServingKey}}, nil
}

// Serve serves on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.cfg.ClientCA) {
		return errors.New("kubeletproxy: no certificate in the client CA")
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			ClientAuth:     tls.RequireAndVerifyClientCert,
			ClientCAs:      pool,
			GetCertificate: s.certs.get,
			// Upgrades need HTTP/1.1.
			NextProtos: []string{"http/1.1"},
		},
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ServeTLS(l, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ServeHTTP proxies one kubelet request to the host's apiserver.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != s.cfg.ClientName {
		http.Error(w, "only the vcluster's apiserver may call this kubelet API", http.StatusForbidden)
		return
	}
	t, err := s.translate(r.URL)
	if err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	out := r.Clone(r.Context())
	out.URL.Path, out.URL.RawPath, out.URL.RawQuery = t.url.Path, "", t.url.RawQuery
	out.Header = keepHeaders(r.Header)
	// The host's refusals (a container not started yet, say) name the
	// pod's host copy and namespace; the tenant reads its own names.
	rt := &renaming{rt: s.plain, names: strings.NewReplacer(
		s.cfg.HostNamespace+"/"+t.hostPod, t.namespace+"/"+t.pod, t.hostPod, t.pod, s.cfg.HostNamespace, t.namespace)}
	h := proxy.NewUpgradeAwareHandler(t.url, rt, false, false, responder{})
	h.UpgradeTransport = s.upgrades
	h.UseLocationHost = true
	h.RejectForwardingRedirects = true
	h.ServeHTTP(w, out)
}

// forwarded are the request headers the host needs to open the same
// stream; the rest (whatever the tenant's client sent, which the vcluster's
// apiserver passes on) never reaches the host.
var forwarded = []string{
	"Connection", "Upgrade", "X-Stream-Protocol-Version",
	"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions",
	"Accept", "User-Agent",
}

func keepHeaders(in http.Header) http.Header {
	out := http.Header{}
	for _, k := range forwarded {
		if v := in.Values(k); len(v) > 0 {
			out[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
		}
	}
	return out
}

// requestError is a request this server does not serve.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func statusOf(err error) int {
	var re *requestError
	if errors.As(err, &re) {
		return re.status
	}
	return http.StatusInternalServerError
}

// subresources maps the kubelet's paths to the host apiserver's pod
// subresources, with whether the path names a container.
var subresources = map[string]struct {
	sub       string
	container bool
}{
	"containerLogs": {"log", true},
	"exec":          {"exec", true},
	"attach":        {"attach", true},
	"portForward":   {"portforward", false},
}

// streamParams renames the kubelet's stream parameters to the
// apiserver's.
var streamParams = map[string]string{"input": "stdin", "output": "stdout", "error": "stderr", "tty": "tty"}

// passed are the parameters each subresource takes as they are.
var passed = map[string][]string{
	"log":         {"follow", "previous", "sinceSeconds", "sinceTime", "timestamps", "tailLines", "limitBytes"},
	"exec":        {"command"},
	"attach":      nil,
	"portforward": {"port"},
}

// target is where a kubelet request for a virtual pod goes on the host.
type target struct {
	url *url.URL
	// namespace and pod name the virtual pod, hostPod its host copy.
	namespace, pod, hostPod string
}

// translate turns a kubelet request for a virtual pod into the host
// apiserver's URL for its host copy.
func (s *Server) translate(in *url.URL) (target, error) {
	parts := strings.Split(strings.Trim(in.Path, "/"), "/")
	kind, ok := subresources[parts[0]]
	if !ok {
		return target{}, &requestError{http.StatusNotFound, fmt.Sprintf("%s is not served for a vcluster's nodes: logs, exec, attach and port-forward are", in.Path)}
	}
	want := 3
	if kind.container {
		want = 4
	}
	if len(parts) != want {
		return target{}, &requestError{http.StatusNotFound, fmt.Sprintf("%s: want /%s/<namespace>/<pod>%s", in.Path, parts[0], map[bool]string{true: "/<container>"}[kind.container])}
	}
	namespace, pod := parts[1], parts[2]
	if len(validation.IsDNS1123Label(namespace)) > 0 || len(validation.IsDNS1123Subdomain(pod)) > 0 {
		return target{}, &requestError{http.StatusBadRequest, fmt.Sprintf("%s: not a pod's namespace and name", in.Path)}
	}
	q := url.Values{}
	if kind.container {
		if len(validation.IsDNS1123Label(parts[3])) > 0 {
			return target{}, &requestError{http.StatusBadRequest, fmt.Sprintf("%s: not a container's name", in.Path)}
		}
		q.Set("container", parts[3])
	}
	from := in.Query()
	for _, k := range passed[kind.sub] {
		if v, ok := from[k]; ok {
			q[k] = v
		}
	}
	if kind.sub == "exec" || kind.sub == "attach" {
		for k, to := range streamParams {
			if v := from.Get(k); v == "1" || v == "true" {
				q.Set(to, "true")
			}
		}
	}
	hostPod := names.HostName(pod, namespace, s.cfg.VCluster)
	out := *s.base
	out.Path = strings.TrimSuffix(s.base.Path, "/") + "/api/v1/namespaces/" + s.cfg.HostNamespace + "/pods/" + hostPod + "/" + kind.sub
	out.RawQuery = q.Encode()
	return target{url: &out, namespace: namespace, pod: pod, hostPod: hostPod}, nil
}

// responder reports a failure to reach the host.
type responder struct{}

func (responder) Error(w http.ResponseWriter, _ *http.Request, err error) {
	http.Error(w, "the host's apiserver: "+err.Error(), http.StatusBadGateway)
}

// certFiles serves a certificate from files, read again when they change.
type certFiles struct {
	cert, key string

	mu      sync.Mutex
	modTime time.Time
	loaded  *tls.Certificate
}

func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	fi, err := os.Stat(c.cert)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded != nil && fi.ModTime().Equal(c.modTime) {
		return c.loaded, nil
	}
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return nil, err
	}
	c.loaded, c.modTime = &pair, fi.ModTime()
	return c.loaded, nil
}

// renaming rewrites the host's names in the host's error responses.
type renaming struct {
	rt    http.RoundTripper
	names *strings.Replacer
}

// maxErrorBody bounds an error response read whole to rewrite: they are a
// Status of a line or two.
const maxErrorBody = 64 << 10

func (r *renaming) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	out := []byte(r.names.Replace(string(body)))
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return resp, nil
}
