package syncer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/ctrlopts"
)

// Config is what a syncer needs to run.
type Config struct {
	// Virtual reaches the vcluster's API server as its admin.
	Virtual *rest.Config
	// Host reaches the host cluster with rights in HostNamespace (and to
	// read nodes).
	Host          *rest.Config
	HostNamespace string
	VCluster      Identity
	Isolation     fleetv1.IsolationPolicy
	// APIServerHost and APIServerPort are where pods on the host reach the
	// virtual API server.
	APIServerHost     string
	APIServerPort     int
	SyncAllConfigMaps bool
	SyncAllSecrets    bool
	// ServiceCIDR is the vcluster's Service range, for example
	// 10.96.0.0/16.
	ServiceCIDR string
	// Workers is how many objects of one kind are synced at once.
	Workers int
	// Kubelet is where the vcluster's apiserver reaches its nodes' kubelet
	// API (the control plane's kubelet proxy), which nodes show beside the
	// host nodes' addresses; nil shows only those, which it cannot use.
	Kubelet *Endpoint
	// DNS is where the vcluster's DNS server listens; the syncer puts a
	// Service in the host namespace in front of it and points pods there.
	// Nil leaves pods the host's resolver.
	DNS *Endpoint
	// HostsFileImage, when set, writes each pod's /etc/hosts in the
	// vcluster's names; see Context.
	HostsFileImage string

	// Controller configures the controllers; tests that run several
	// syncers in one process skip the check for unique names.
	Controller ctrlconfig.Controller

	// Resources are synced by the generic controller; Controllers run on
	// their own (nodes, events).
	Resources   []Resource
	Controllers []Controller

	// Synced, when set, is called once the syncer has read what it syncs
	// on both sides: from then on, what it has not copied yet is in its
	// queues.
	Synced func()
}

// KubeletAddressType is the type of the address a vcluster's node shows
// for the kubelet proxy, beside the host node's own addresses. The
// vcluster's apiserver prefers it, and only it, for kubelet connections:
// the host's kubelets know none of the vcluster's pods.
const KubeletAddressType corev1.NodeAddressType = "VFleetKubeletProxy"

// Endpoint is an address and port the control plane serves at.
type Endpoint struct {
	Address string
	Port    int
}

// Controller is a part of the syncer with a controller of its own.
type Controller interface {
	SetupWithSyncer(mgr ctrl.Manager, host cluster.Cluster, s *Context) error
}

// Indexer is implemented by parts that look objects up by a field.
type Indexer interface {
	IndexFields(ctx context.Context, virtual client.FieldIndexer) error
}

// Run syncs until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Virtual == nil || cfg.Host == nil || cfg.HostNamespace == "" || cfg.VCluster.UID == "" || cfg.VCluster.Name == "" {
		return errors.New("syncer: virtual and host configs, host namespace and vcluster identity are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	mgr, err := ctrl.NewManager(unlimited(cfg.Virtual), ctrl.Options{
		Scheme:                 apis.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// One syncer per control plane, in its process.
		LeaderElection: false,
		Controller:     ctrlopts.Controller(cfg.Controller),
	})
	if err != nil {
		return err
	}
	host, err := cluster.New(unlimited(cfg.Host), func(o *cluster.Options) {
		o.Scheme = apis.Scheme()
		o.Cache = HostCacheOptions(cfg.HostNamespace, cfg.VCluster.UID)
	})
	if err != nil {
		return err
	}
	if err := mgr.Add(host); err != nil {
		return err
	}
	ca := cfg.Virtual.CAData
	if len(ca) == 0 && cfg.Virtual.CAFile != "" {
		if ca, err = os.ReadFile(cfg.Virtual.CAFile); err != nil {
			return err
		}
	}
	var cidr *net.IPNet
	if cfg.ServiceCIDR != "" {
		if _, cidr, err = net.ParseCIDR(cfg.ServiceCIDR); err != nil {
			return fmt.Errorf("syncer: service CIDR: %w", err)
		}
	}
	s := &Context{
		VirtualCA: ca, ServiceCIDR: cidr, VirtualLive: mgr.GetAPIReader(), HostLive: host.GetAPIReader(),
		Virtual: mgr.GetClient(), Host: host.GetClient(), HostNamespace: cfg.HostNamespace, VCluster: cfg.VCluster,
		Isolation: cfg.Isolation, APIServerHost: cfg.APIServerHost, APIServerPort: cfg.APIServerPort, Kubelet: cfg.Kubelet,
		SyncAllConfigMaps: cfg.SyncAllConfigMaps, SyncAllSecrets: cfg.SyncAllSecrets, HostsFileImage: cfg.HostsFileImage,
		Recorder: mgr.GetEventRecorder("vfleet-syncer"),
	}
	if err := startDNS(ctx, mgr, cfg, s); err != nil {
		return err
	}
	if err := startAPIEndpoints(mgr, cfg, s); err != nil {
		return err
	}
	var parts []any
	for _, r := range cfg.Resources {
		parts = append(parts, r)
	}
	for _, c := range cfg.Controllers {
		parts = append(parts, c)
	}
	for _, p := range parts {
		if ix, ok := p.(Indexer); ok {
			if err := ix.IndexFields(ctx, mgr.GetFieldIndexer()); err != nil {
				return err
			}
		}
	}
	for _, r := range cfg.Resources {
		if err := setup(mgr, host, s, r, cfg.Workers); err != nil {
			return err
		}
	}
	for _, c := range cfg.Controllers {
		if err := c.SetupWithSyncer(mgr, host, s); err != nil {
			return err
		}
	}
	counter := &objectCounter{host: host.GetCache(), resources: cfg.Resources}
	running.Store(counter, struct{}{})
	defer running.Delete(counter)
	if cfg.Synced != nil {
		// Runnables start once the caches have; waiting here is only for
		// their first lists.
		err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			if mgr.GetCache().WaitForCacheSync(ctx) && host.GetCache().WaitForCacheSync(ctx) {
				cfg.Synced()
			}
			return nil
		}))
		if err != nil {
			return err
		}
	}
	return mgr.Start(ctx)
}

// startDNS puts the DNS Service in front of the vcluster's DNS server,
// before any pod is synced: pods are pointed at its address when made.
func startDNS(ctx context.Context, mgr ctrl.Manager, cfg Config, s *Context) error {
	if cfg.DNS == nil {
		return nil
	}
	log := ctrl.LoggerFrom(ctx)
	if !dnsReachable(cfg.DNS.Address) {
		log.Info("Pods keep the host's resolver: the vcluster's DNS server listens where no pod reaches it", "address", cfg.DNS.Address)
		return nil
	}
	c, err := client.New(unlimited(cfg.Host), client.Options{Scheme: apis.Scheme()})
	if err != nil {
		return err
	}
	if s.DNSServer, err = ensureDNSService(ctx, c, s, *cfg.DNS, ""); err != nil {
		return err
	}
	s.DNSEndpoint = cfg.DNS
	log.Info("Pods resolve names with the vcluster's DNS", "service", DNSServiceName, "clusterIP", s.DNSServer, "server", net.JoinHostPort(cfg.DNS.Address, strconv.Itoa(cfg.DNS.Port)))
	return mgr.Add(&dnsKeeper{c: c, s: s, ep: *cfg.DNS})
}

// HostCacheOptions keep the syncer's view of the host narrow: its own
// namespace, and there only what it made, plus the Events about them; and
// the nodes, which are cluster-wide.
func HostCacheOptions(namespace, vclusterUID string) cache.Options {
	ours := labels.SelectorFromSet(labels.Set{fleetv1.LabelManagedBy: fleetv1.ManagedByValue, fleetv1.LabelVirtualClusterUID: vclusterUID})
	return cache.Options{
		DefaultNamespaces:    map[string]cache.Config{namespace: {}},
		DefaultLabelSelector: ours,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Event{}: {Label: labels.Everything()},
			&corev1.Node{}:  {Label: labels.Everything()},
			// What the vcluster shows of the host's storage, and the
			// priority classes its class hands out.
			&corev1.PersistentVolume{}:    {Label: labels.Everything()},
			&storagev1.StorageClass{}:     {Label: labels.Everything()},
			&schedulingv1.PriorityClass{}: {Label: labels.Everything()},
		},
	}
}

// unlimited lifts client-go's default of 5 requests a second: a syncer
// copying a thousand pods must not queue behind its own rate limiter.
func unlimited(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	// The syncer reads Endpoints on purpose; the API's deprecation warning
	// on every request is no news in its log.
	cfg.WarningHandler = rest.NoWarnings{}
	return cfg
}
