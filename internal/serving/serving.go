// Package serving holds where a vfleet process serves its health probes and
// metrics: the flags the hub and the agent share.
package serving

import "github.com/spf13/pflag"

// Addresses are the listen addresses of a controller-runtime manager's
// probes and metrics.
type Addresses struct {
	// HealthProbe serves /healthz and /readyz.
	HealthProbe string
	// Metrics serves /metrics; "0" turns it off.
	Metrics string
}

// AddFlags binds a to --health-probe-bind-address and
// --metrics-bind-address, with a's values as defaults.
func (a *Addresses) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.HealthProbe, "health-probe-bind-address", a.HealthProbe, "address of /healthz and /readyz")
	fs.StringVar(&a.Metrics, "metrics-bind-address", a.Metrics, "address of /metrics (0 disables)")
}
