// Package serving holds where a vfleet process serves its health probes and
// metrics: the flags the hub and the agent share.
package serving

import (
	"crypto/tls"
	"net/http"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Addresses are the listen addresses of a controller-runtime manager's
// probes and metrics.
type Addresses struct {
	// HealthProbe serves /healthz and /readyz.
	HealthProbe string
	// Metrics serves /metrics; "0" turns it off.
	Metrics string
	// MetricsCertDir holds tls.crt and tls.key for /metrics; without
	// them the server makes itself a self-signed certificate.
	MetricsCertDir string
}

// AddFlags binds a to --health-probe-bind-address and
// --metrics-bind-address, with a's values as defaults.
func (a *Addresses) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.HealthProbe, "health-probe-bind-address", a.HealthProbe, "address of /healthz and /readyz")
	fs.StringVar(&a.Metrics, "metrics-bind-address", a.Metrics, "address of /metrics, served over HTTPS to callers allowed to get the non-resource URL /metrics (0 disables)")
	fs.StringVar(&a.MetricsCertDir, "metrics-cert-dir", a.MetricsCertDir, "directory of the tls.crt and tls.key /metrics is served with (default: a self-signed certificate)")
}

// MetricsServer serves /metrics over HTTPS to the callers the manager's
// API server authenticates (a TokenReview, or a client certificate of
// its client CA) and authorizes (a SubjectAccessReview for get on the
// non-resource URL /metrics), as Kubernetes' own components serve theirs:
// the metrics name every host, tenant namespace and vcluster of the
// fleet, and what each costs.
func (a *Addresses) MetricsServer() metricsserver.Options {
	return metricsserver.Options{
		BindAddress:    a.Metrics,
		SecureServing:  true,
		FilterProvider: delegated,
		CertDir:        a.MetricsCertDir,
		TLSOpts:        []func(*tls.Config){requestClientCerts},
	}
}

// MetricsServerAuthorizedBy is MetricsServer with callers checked by the
// API server of cfg rather than the manager's: an agent's metrics are its
// host's to read, and an agent may not review tokens on the management
// cluster.
func (a *Addresses) MetricsServerAuthorizedBy(cfg *rest.Config) metricsserver.Options {
	o := a.MetricsServer()
	o.FilterProvider = func(*rest.Config, *http.Client) (metricsserver.Filter, error) {
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return nil, err
		}
		return delegated(cfg, hc)
	}
	return o
}
