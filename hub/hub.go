package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/backingstore"
	"github.com/vfleet/vfleet/controllers/hostaccess"
	"github.com/vfleet/vfleet/controllers/hosthealth"
	"github.com/vfleet/vfleet/controllers/takeover"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/federation"
	"github.com/vfleet/vfleet/hub/fleetmetrics"
	"github.com/vfleet/vfleet/hub/joinserver"
	"github.com/vfleet/vfleet/internal/ctrlopts"
	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/liveness"
	"github.com/vfleet/vfleet/placement"
)

// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Run runs the hub until ctx ends.
func Run(ctx context.Context, o *Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	cfg, err := kubeconfig.Load(o.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	metricsCA, cleanup, err := metricsCertificate(o)
	if err != nil {
		return err
	}
	defer cleanup()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        apis.Scheme(),
		Cache:                         CacheOptions(),
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              "vfleet-hub",
		LeaderElectionNamespace:       o.Namespace,
		LeaderElectionReleaseOnCancel: true,
		HealthProbeBindAddress:        o.Serving.HealthProbe,
		Metrics:                       o.Serving.MetricsServer(),
		Controller:                    ctrlopts.Controller(ctrlconfig.Controller{}),
	})
	if err != nil {
		return err
	}
	overhead, _ := o.overhead() // validated above
	engine := placement.NewEngine(placement.DefaultProfile(), fleetv1.PlacementStrategy(o.DefaultStrategy))
	// With a federation, the vclusters' epochs are committed to its
	// ledger, through the peer this replica runs while it leads the hub.
	var epochs virtualcluster.EpochLedger
	var peer *federationPeer
	if o.Federation.Enabled() {
		peer = &federationPeer{opts: o.Federation, reader: mgr.GetClient(), clock: clock.RealClock{}}
		epochs = &federation.Epochs{Region: o.Federation.Region, Proposer: &peer.live, Report: peer.reportNow, LiveWithin: o.Federation.RegionLossAfter}
		// Only a hub of a federation has a quorum to speak of.
		registerFederationMetrics()
	}
	// One judge of the hosts' heartbeats, so that a host's health, its
	// vclusters' failover and the heartbeat age exported agree on when it
	// went silent.
	alive := liveness.NewTracker()
	if err := SetupControllers(ctx, mgr, Controllers{
		Clock: clock.RealClock{}, Engine: engine, Overhead: overhead, Epochs: epochs, Liveness: alive,
		Workers: o.VirtualClusterSyncs, Identities: o.Namespace, Gateway: o.Gateway,
	}); err != nil {
		return err
	}
	if err := metrics.Registry.Register(&fleetmetrics.Collector{
		Reader: mgr.GetClient(), Heartbeats: alive, Clock: clock.RealClock{}, Leading: elected(mgr),
	}); err != nil {
		return err
	}

	caData := cfg.CAData
	if len(caData) == 0 && cfg.CAFile != "" {
		if caData, err = os.ReadFile(cfg.CAFile); err != nil {
			return err
		}
	}
	apiServer := o.AgentAPIServer
	if apiServer == "" {
		apiServer = cfg.Host
	}
	js := &joinServer{
		addr: o.JoinBindAddress, certFile: o.TLSCertFile, keyFile: o.TLSKeyFile,
		handler: &joinserver.Server{
			Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Namespace: o.Namespace,
			Clock: clock.RealClock{}, APIServer: apiServer, CAData: caData, TokenTTL: o.AgentTokenTTL,
		},
	}
	if err := mgr.Add(js); err != nil {
		return err
	}
	if peer != nil {
		if err := mgr.Add(peer); err != nil {
			return err
		}
		if err := mgr.Add(&takeover.Runner{
			Client: mgr.GetClient(), Proposer: &peer.live, Clock: clock.RealClock{}, Region: o.Federation.Region,
			After: o.Federation.RegionLossAfter, Every: o.Federation.ReportEvery,
		}); err != nil {
			return err
		}
	}
	if err := publishMetrics(mgr, o, metricsCA); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("join", js.ready); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("Starting the hub", "joinAddress", o.JoinBindAddress, "agentAPIServer", apiServer)
	return mgr.Start(ctx)
}

// SetupControllers registers the hub's controllers with mgr.
func SetupControllers(ctx context.Context, mgr ctrl.Manager, c Controllers) error {
	recorder := mgr.GetEventRecorder("vfleet-hub")
	if err := (&hosthealth.Reconciler{Client: mgr.GetClient(), Clock: c.Clock, Recorder: recorder, Liveness: c.Liveness}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&hostaccess.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&backingstore.Reconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()}).SetupWithManager(mgr); err != nil {
		return err
	}
	return (&virtualcluster.Reconciler{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Engine: c.Engine, Overhead: c.Overhead, Recorder: recorder, Clock: c.Clock,
		Liveness: c.Liveness, Ledger: c.Epochs, Workers: c.Workers, IdentityNamespace: c.Identities, Gateway: c.Gateway,
	}).SetupWithManager(ctx, mgr)
}

// Controllers is what the hub's controllers share.
type Controllers struct {
	Clock    clock.PassiveClock
	Engine   *placement.Engine
	Overhead placement.Overhead
	// Epochs is the federation's ledger; nil without one.
	Epochs   virtualcluster.EpochLedger
	Liveness *liveness.Tracker
	// Workers is how many VirtualClusters are reconciled at once.
	Workers int
	// Identities is the namespace that keeps the vclusters' identities.
	Identities string
	// Gateway is the region's; the zero value names none.
	Gateway virtualcluster.Gateway
}

// CacheOptions keep the hub's cache narrow: of the kinds it shares with the
// rest of the cluster it holds only those labelled with a host.
func CacheOptions() cache.Options {
	hasHost, _ := labels.NewRequirement(fleetv1.LabelHost, selection.Exists, nil)
	byHost := cache.ByObject{Label: labels.NewSelector().Add(*hasHost)}
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{fleetv1.LabelManagedBy: fleetv1.ManagedByValue})}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&coordinationv1.Lease{}:      byHost,
		&corev1.Namespace{}:          byHost,
		&corev1.ServiceAccount{}:     byHost,
		&rbacv1.Role{}:               byHost,
		&rbacv1.RoleBinding{}:        byHost,
		&rbacv1.ClusterRole{}:        byHost,
		&rbacv1.ClusterRoleBinding{}: byHost,
		// Kubeconfigs agents publish and the hub issues; never all Secrets.
		&corev1.Secret{}: managed,
	}}
}

// joinServer serves the join endpoint over TLS on every replica: joining
// needs no leadership, only the API.
type joinServer struct {
	addr, certFile, keyFile string
	handler                 http.Handler
	listening               atomic.Bool
}

var _ manager.LeaderElectionRunnable = (*joinServer)(nil)

func (j *joinServer) NeedLeaderElection() bool { return false }

func (j *joinServer) Start(ctx context.Context) error {
	cert, err := tls.LoadX509KeyPair(j.certFile, j.keyFile)
	if err != nil {
		return fmt.Errorf("join endpoint certificate: %w", err)
	}
	ln, err := net.Listen("tcp", j.addr)
	if err != nil {
		return fmt.Errorf("join endpoint: %w", err)
	}
	srv := &http.Server{
		Handler:           j.handler,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	j.listening.Store(true)
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (j *joinServer) ready(*http.Request) error {
	if !j.listening.Load() {
		return errors.New("join endpoint not listening yet")
	}
	return nil
}

// elected reports whether mgr leads the hub: at once without leader
// election.
func elected(mgr ctrl.Manager) func() bool {
	return func() bool {
		select {
		case <-mgr.Elected():
			return true
		default:
			return false
		}
	}
}
