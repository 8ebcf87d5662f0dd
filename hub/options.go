package hub

import (
	"errors"
	"fmt"
	"time"

	"github.com/vfleet/vfleet/internal/serving"

	"github.com/vfleet/vfleet/internal/overhead"

	"github.com/spf13/pflag"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/federation"
	"github.com/vfleet/vfleet/placement"
)

// Options configure the hub.
type Options struct {
	// Kubeconfig of the management cluster; empty means in-cluster.
	Kubeconfig string
	// Namespace holds the hub's leader-election Lease and bootstrap tokens.
	Namespace string

	// JoinBindAddress is where the join endpoint listens, over TLS with
	// TLSCertFile and TLSKeyFile.
	JoinBindAddress string
	TLSCertFile     string
	TLSKeyFile      string

	// KubeAPIQPS and KubeAPIBurst bound the hub's requests to the
	// management cluster, as every Kubernetes controller's are bounded: a
	// fleet of a thousand hosts needs more than client-go's 20 a second.
	KubeAPIQPS   float32
	KubeAPIBurst int
	// MetricsAdvertiseURL is where `vfleet top` reaches this replica's
	// /metrics; empty publishes nothing.
	MetricsAdvertiseURL string
	// AgentAPIServer is the management cluster's URL as agents reach it;
	// empty means the one in Kubeconfig.
	AgentAPIServer string
	// AgentTokenTTL is how long an agent token lasts; agents renew theirs
	// before it runs out.
	AgentTokenTTL time.Duration

	// DefaultStrategy places vclusters that name none.
	DefaultStrategy string
	// ControlPlaneOverhead is what a control plane costs a host beyond its
	// vcluster's quota; placement reserves it.
	ControlPlaneOverhead overhead.Flags

	// VirtualClusterSyncs is how many VirtualClusters the hub reconciles
	// at once: a lost host or region fails many over together, and each
	// fence waits on its store. One by default: at 8, a lab on two cores
	// provisioned and started that many vclusters at once on one
	// PostgreSQL server, and their apiservers failed to start.
	VirtualClusterSyncs int

	// Gateway is the region's gateway, which tenants' kubeconfigs name;
	// none by default.
	Gateway virtualcluster.Gateway

	Serving     serving.Addresses
	LeaderElect bool

	// Federation joins this hub to the other regions' hubs; off without
	// an ID.
	Federation federation.Options
}

// DefaultNamespace is where the hub keeps its own objects.
const DefaultNamespace = "vfleet-system"

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Namespace:            DefaultNamespace,
		JoinBindAddress:      ":9443",
		AgentTokenTTL:        24 * time.Hour,
		DefaultStrategy:      string(fleetv1.StrategyBinPack),
		ControlPlaneOverhead: overhead.Default(),
		VirtualClusterSyncs:  1,
		Gateway:              virtualcluster.Gateway{Domain: virtualcluster.DefaultGatewayDomain},
		Serving:              serving.Addresses{HealthProbe: ":8081", Metrics: ":8443"},
		LeaderElect:          true,
		Federation:           federation.NewOptions(),
		KubeAPIQPS:           50,
		KubeAPIBurst:         100,
	}
}

// AddFlags binds the options to flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig of the management cluster (default: in-cluster)")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "requests a second the hub may send the management cluster, sustained")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "requests the hub may send the management cluster in a burst")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "namespace of the hub's leader-election Lease and bootstrap tokens")
	fs.StringVar(&o.JoinBindAddress, "join-bind-address", o.JoinBindAddress, "address the join endpoint listens on (HTTPS)")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", o.TLSCertFile, "serving certificate of the join endpoint")
	fs.StringVar(&o.TLSKeyFile, "tls-private-key-file", o.TLSKeyFile, "private key of --tls-cert-file")
	fs.StringVar(&o.MetricsAdvertiseURL, "metrics-advertise-url", o.MetricsAdvertiseURL, "https URL of this replica's /metrics, published for `vfleet top` while it leads, with the CA of its certificate (default: none published)")
	fs.StringVar(&o.Gateway.Address, "gateway-address", o.Gateway.Address, "host:port of the region's gateway (vfleet gateway): tenants' kubeconfigs name it and keep working when their vcluster moves (default: none, and kubeconfigs name the control plane's own address)")
	fs.StringVar(&o.Gateway.Domain, "gateway-domain", o.Gateway.Domain, "suffix of the server names (TLS SNI) the gateway routes by: <vcluster>.<namespace>.<domain>")
	fs.StringVar(&o.AgentAPIServer, "agent-api-server", o.AgentAPIServer, "management cluster URL handed to agents (default: the kubeconfig's)")
	fs.DurationVar(&o.AgentTokenTTL, "agent-token-ttl", o.AgentTokenTTL, "lifetime of the tokens issued to agents")
	fs.StringVar(&o.DefaultStrategy, "default-placement-strategy", o.DefaultStrategy, "placement strategy of vclusters that name none: BinPack, Spread or LowestCost")
	o.ControlPlaneOverhead.AddFlags(fs)
	fs.IntVar(&o.VirtualClusterSyncs, "concurrent-virtualcluster-syncs", o.VirtualClusterSyncs, "how many VirtualClusters are reconciled at once (placed, fenced, failed over)")
	o.Serving.AddFlags(fs)
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "elect a leader among hub replicas")
	o.Federation.AddFlags(fs)
}

// Validate reports every problem with the options.
func (o *Options) Validate() error {
	var errs []error
	if o.Namespace == "" {
		errs = append(errs, errors.New("--namespace is required"))
	}
	if o.TLSCertFile == "" || o.TLSKeyFile == "" {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file are required: agents join over HTTPS"))
	}
	switch fleetv1.PlacementStrategy(o.DefaultStrategy) {
	case fleetv1.StrategyBinPack, fleetv1.StrategySpread, fleetv1.StrategyLowestCost:
	default:
		errs = append(errs, fmt.Errorf("--default-placement-strategy %q: want BinPack, Spread or LowestCost", o.DefaultStrategy))
	}
	if _, err := o.overhead(); err != nil {
		errs = append(errs, err)
	}
	if o.VirtualClusterSyncs < 1 {
		errs = append(errs, fmt.Errorf("--concurrent-virtualcluster-syncs %d: at least 1", o.VirtualClusterSyncs))
	}
	if o.KubeAPIQPS <= 0 || o.KubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-qps %v and --kube-api-burst %d: both above zero", o.KubeAPIQPS, o.KubeAPIBurst))
	}
	if o.AgentTokenTTL < 10*time.Minute {
		errs = append(errs, fmt.Errorf("--agent-token-ttl %s is too short: at least 10m", o.AgentTokenTTL))
	}
	errs = append(errs, o.Gateway.Validate())
	errs = append(errs, o.Federation.Validate())
	return errors.Join(errs...)
}

func (o *Options) overhead() (placement.Overhead, error) {
	cpu, mem, err := o.ControlPlaneOverhead.Parse()
	if err != nil {
		return placement.Overhead{}, err
	}
	return placement.Overhead{MilliCPU: cpu.MilliValue(), Memory: mem.Value()}, nil
}
