package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/pki"
)

// The client CA of the management cluster, for /metrics (serving), and
// the ConfigMap the hub publishes: by name, read with a client that
// caches nothing, so the hub lists and watches no ConfigMap.
// +kubebuilder:rbac:groups="",resources=configmaps,resourceNames=extension-apiserver-authentication;vfleet-hub-metrics,verbs=get;update
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=create

// metricsCertificate gives the hub's /metrics a certificate of its own
// CA for the advertised URL, when it was given none, so that `vfleet
// top` can verify whom it talks to: the self-signed one the metrics
// server would make itself is known to no one. It returns the CA's
// certificate, to publish, and a cleanup of the directory made.
func metricsCertificate(o *Options) (ca []byte, cleanup func(), err error) {
	cleanup = func() {}
	if o.Serving.Metrics == "0" || o.MetricsAdvertiseURL == "" {
		return nil, cleanup, nil
	}
	if dir := o.Serving.MetricsCertDir; dir != "" {
		// A CA beside the pair, if the operator put one there; else the
		// certificate itself, which a self-signed one is its own CA of.
		for _, name := range []string{"ca.crt", "tls.crt"} {
			if ca, err = os.ReadFile(filepath.Join(dir, name)); err == nil {
				return ca, cleanup, nil
			}
		}
		return nil, cleanup, fmt.Errorf("--metrics-cert-dir %s: %w", dir, err)
	}
	u, err := url.Parse(o.MetricsAdvertiseURL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return nil, cleanup, fmt.Errorf("--metrics-advertise-url %q: want https://host:port", o.MetricsAdvertiseURL)
	}
	authority, err := pki.NewCA("vfleet-hub-metrics")
	if err != nil {
		return nil, cleanup, err
	}
	req := pki.Request{CommonName: "vfleet-hub", Usage: pki.ServerAuth}
	if ip := net.ParseIP(u.Hostname()); ip != nil {
		req.IPs = []net.IP{ip}
	} else {
		req.DNSNames = []string{u.Hostname()}
	}
	pair, err := authority.Issue(req)
	if err != nil {
		return nil, cleanup, err
	}
	// One directory per advertised URL, made afresh at each start: a hub
	// killed before its cleanup leaves one behind, which its next start
	// takes over, not one more each time.
	sum := sha256.Sum256([]byte(o.MetricsAdvertiseURL))
	dir := filepath.Join(os.TempDir(), "vfleet-hub-metrics-"+hex.EncodeToString(sum[:8]))
	if err := os.RemoveAll(dir); err != nil {
		return nil, cleanup, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, cleanup, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	if _, _, err := pair.Write(dir, "tls"); err != nil {
		cleanup()
		return nil, func() {}, err
	}
	o.Serving.MetricsCertDir = dir
	return authority.CertPEM(), cleanup, nil
}

// publishMetrics has the hub publish where its /metrics is while it
// leads, if it serves them with ca.
func publishMetrics(mgr ctrl.Manager, o *Options, ca []byte) error {
	if ca == nil {
		return nil
	}
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return err
	}
	return mgr.Add(&metricsPublisher{client: direct, namespace: o.Namespace, url: o.MetricsAdvertiseURL, ca: ca})
}

// metricsPublisher writes, while its replica leads, where the hub's
// /metrics is: the leader is the replica that exports the fleet.
type metricsPublisher struct {
	client    client.Client
	namespace string
	url       string
	ca        []byte
}

func (p *metricsPublisher) NeedLeaderElection() bool { return true }

func (p *metricsPublisher) Start(ctx context.Context) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: p.namespace, Name: fleetv1.HubMetricsConfigMap}}
	_, err := controllerutil.CreateOrUpdate(ctx, p.client, cm, func() error {
		cm.Labels = map[string]string{fleetv1.LabelManagedBy: fleetv1.ManagedByValue}
		cm.Data = map[string]string{fleetv1.HubMetricsURLKey: p.url, fleetv1.HubMetricsCAKey: string(p.ca)}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("publish the metrics endpoint in %s/%s: %w", p.namespace, fleetv1.HubMetricsConfigMap, err)
	}
	<-ctx.Done()
	return nil
}
