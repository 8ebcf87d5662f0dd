package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/vfleet/vfleet/apis"
	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/serving"
)

// The gateway reads the routes, and checks who may read its /metrics.
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=virtualclusters,verbs=get;list;watch
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// It records each vcluster's use in Leases of the hub's namespace only.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update,namespace=vfleet-system

// RunOptions configure `vfleet gateway`.
type RunOptions struct {
	// Kubeconfig of the management cluster; empty means in-cluster.
	Kubeconfig string
	// Namespace is the hub's: the gateway records each vcluster's use in
	// Leases there.
	Namespace string
	// BindAddress is where tenants' connections arrive: the address the
	// hub's --gateway-address names, or one that leads to it.
	BindAddress string
	Gateway     Options
	Serving     serving.Addresses
}

// NewRunOptions returns the defaults.
func NewRunOptions() *RunOptions {
	return &RunOptions{
		BindAddress: ":6443",
		Namespace:   "vfleet-system",
		Gateway:     DefaultOptions(),
		Serving:     serving.Addresses{HealthProbe: ":8081", Metrics: ":8443"},
	}
}

// AddFlags binds the options to flags.
func (o *RunOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig of the management cluster (default: in-cluster)")
	fs.StringVar(&o.BindAddress, "bind-address", o.BindAddress, "address tenants' TLS connections arrive at")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "the hub's namespace, where the gateway records when each vcluster was last used (Leases); empty records nothing, and vclusters neither sleep when idle nor wake on a request")
	fs.DurationVar(&o.Gateway.Hold, "hold", o.Gateway.Hold, "how long a new connection waits for its vcluster to be reachable (moving, starting) before it is refused")
	fs.DurationVar(&o.Gateway.DialTimeout, "dial-timeout", o.Gateway.DialTimeout, "how long one attempt to reach a control plane may take")
	o.Serving.AddFlags(fs)
}

// Validate says what is wrong with the options.
func (o *RunOptions) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(o.BindAddress); err != nil {
		errs = append(errs, fmt.Errorf("--bind-address %q: %w", o.BindAddress, err))
	}
	if o.Gateway.Hold < time.Second || o.Gateway.Hold > 10*time.Minute {
		errs = append(errs, fmt.Errorf("--hold %s: between 1s and 10m", o.Gateway.Hold))
	}
	if o.Gateway.DialTimeout <= 0 || o.Gateway.DialTimeout > o.Gateway.Hold {
		errs = append(errs, fmt.Errorf("--dial-timeout %s: above zero, and no longer than --hold", o.Gateway.DialTimeout))
	}
	return errors.Join(errs...)
}

// Run runs the gateway until ctx ends. It serves once it has every
// vcluster's route: before, every name would be unknown.
func Run(ctx context.Context, o *RunOptions) error {
	if err := o.Validate(); err != nil {
		return err
	}
	cfg, err := kubeconfig.Load(o.Kubeconfig)
	if err != nil {
		return err
	}
	cacheOpts := CacheOptions()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 apis.Scheme(),
		Cache:                  cacheOpts,
		HealthProbeBindAddress: o.Serving.HealthProbe,
		Metrics:                o.Serving.MetricsServer(),
	})
	if err != nil {
		return err
	}
	log := ctrl.LoggerFrom(ctx).WithName("gateway")
	if o.Namespace != "" {
		// Uncached: the gateway only writes Leases, one at a time.
		c, err := client.New(cfg, client.Options{Scheme: apis.Scheme()})
		if err != nil {
			return err
		}
		o.Gateway.Activity = &LeaseActivity{Client: c, Namespace: o.Namespace, Every: o.Gateway.ActivityEvery, Log: log}
	}
	g := New(o.Gateway, log, metrics.Registry)
	ln, err := net.Listen("tcp", o.BindAddress)
	if err != nil {
		return err
	}
	var routed atomic.Bool
	if err := mgr.AddReadyzCheck("routes", func(*http.Request) error {
		if !routed.Load() {
			return errors.New("the vclusters' routes are not listed yet")
		}
		return nil
	}); err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		defer func() { _ = ln.Close() }()
		if err := g.Watch(ctx, mgr.GetCache()); err != nil {
			return err
		}
		routed.Store(true)
		log.Info("Serving", "address", ln.Addr().String(), "routes", g.Routes().Len())
		return g.Serve(ctx, ln)
	})); err != nil {
		return err
	}
	return mgr.Start(ctx)
}
