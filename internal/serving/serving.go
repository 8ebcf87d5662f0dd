// Package serving holds where a vfleet process serves its health probes and
// metrics: the flags the hub and the agent share.
package serving

import (
	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
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
// API server authenticates (a TokenReview) and authorizes (a
// SubjectAccessReview for get on the non-resource URL /metrics), as
// Kubernetes' own components serve theirs: the metrics name every host,
// tenant namespace and vcluster of the fleet, and what each costs.
func (a *Addresses) MetricsServer() metricsserver.Options {
	return metricsserver.Options{
		BindAddress:    a.Metrics,
		SecureServing:  true,
		FilterProvider: filters.WithAuthenticationAndAuthorization,
		CertDir:        a.MetricsCertDir,
	}
}
