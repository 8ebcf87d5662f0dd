package launch

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/tracing"
)

// Command is the vfleet subcommand that runs one control plane.
const Command = "controlplane"

// Variables of the command's environment.
const (
	// BackendEnv carries the store's endpoint and credentials, which must
	// not be on the command line: any user of the machine can read that.
	BackendEnv = "VFLEET_BACKEND"
	// PodNamespaceEnv is the namespace of the pod the command runs in, as
	// the downward API gives it.
	PodNamespaceEnv = "POD_NAMESPACE"
)

// DefaultServiceCIDR is a vcluster's Service range unless it is told the
// host's: Kubernetes' usual one, so that the ClusterIPs the host hands out
// fit the vcluster's range.
const DefaultServiceCIDR = "10.96.0.0/16"

// DefaultOrphanGrace is how long a control plane outlives its agent unless
// told otherwise: long enough for an agent's restart to adopt it.
const DefaultOrphanGrace = time.Minute

// AdminKubeconfigFile is the admin kubeconfig's name in the data
// directory, written once the apiserver is ready.
const AdminKubeconfigFile = "admin.kubeconfig"

// AdminKubeconfig is the path of the admin kubeconfig in dataDir.
func AdminKubeconfig(dataDir string) string { return filepath.Join(dataDir, AdminKubeconfigFile) }

// Config is every setting of `vfleet controlplane`. A zero field leaves
// the command's default (NewConfig).
type Config struct {
	// Name of the vcluster, used in its certificates.
	Name string
	// DataDir keeps the vcluster's PKI, logs and Embedded database.
	DataDir string
	// IdentityDir holds the vcluster's identity (package identity), the
	// same for every epoch on every host; empty makes one in DataDir on
	// the first start.
	IdentityDir string
	// Address is the IP the apiserver listens and is reached at; Port is
	// its port there.
	Address string
	Port    int
	// SANs are further names or addresses for the apiserver's certificate.
	SANs []string
	// BinRoot has one directory of Kubernetes binaries per version, of
	// which KubernetesVersion picks one.
	BinRoot           string
	KubernetesVersion string
	// ServiceCIDR is the vcluster's Service range; the host's, so that host
	// ClusterIPs fit.
	ServiceCIDR string
	// Lifeline is a lock file the agent holds while it runs; the control
	// plane stops once the agent is gone for OrphanGrace.
	Lifeline    string
	OrphanGrace time.Duration
	// PublishSecret is, in a pod, the Secret of PodNamespace the admin
	// kubeconfig is written into, with PublishServer as its address.
	PublishSecret string
	PublishServer string
	PodNamespace  string
	// Syncer, when its HostNamespace is set, runs the syncer into the host.
	Syncer Syncer
	// DNS is the CoreDNS binary that serves the tenant's DNS, beside the
	// syncer; empty runs none. DNSUpstreams are the resolvers names
	// outside the vcluster are asked of; empty means those of
	// /etc/resolv.conf.
	DNS          string
	DNSUpstreams []string
	// Backend is an External store's endpoint; empty means SQLite in
	// DataDir. It travels in the environment (Env), never as a flag.
	Backend string
	// Traceparent is the trace of the create or move this start is part
	// of (internal/tracing); empty for none. It travels in the
	// environment, as TRACEPARENT, so that a change of it is no change of
	// the command a runtime compares.
	Traceparent string
}

// Syncer is what the control plane's syncer needs beyond the control plane.
type Syncer struct {
	HostNamespace string
	// HostKubeconfig reaches the host; empty means in-cluster.
	HostKubeconfig    string
	VClusterNamespace string
	// VClusterUID marks the host objects of the vcluster.
	VClusterUID string
	Isolation   fleetv1.IsolationPolicy
	// SyncAllConfigMaps and SyncAllSecrets copy all to the host, not only
	// those pods use.
	SyncAllConfigMaps, SyncAllSecrets bool
	// HostsFileImage is the vfleet image each host pod's /etc/hosts is
	// written with, in the vcluster's names; empty leaves the host
	// kubelet's, which names the host copy.
	HostsFileImage string
}

// NewConfig returns the command's defaults. Those of BinRoot and
// KubernetesVersion depend on where the vfleet binary finds Kubernetes, so
// its caller sets them.
func NewConfig() Config {
	return Config{
		Name:        "vcluster",
		Address:     "127.0.0.1",
		Port:        6443,
		ServiceCIDR: DefaultServiceCIDR,
		OrphanGrace: DefaultOrphanGrace,
		Syncer:      Syncer{Isolation: fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityBaseline}},
	}
}

// AddFlags binds c to the command's flags, with c's values as defaults.
func (c *Config) AddFlags(f *pflag.FlagSet) {
	s := &c.Syncer
	f.StringVar(&c.Name, "name", c.Name, "name of the vcluster, used in its certificates")
	f.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the vcluster's PKI, logs and Embedded database")
	f.StringVar(&c.IdentityDir, "identity-dir", c.IdentityDir, "directory with the vcluster's identity: CAs, service-account key and admin credentials (default: made in --data-dir on the first start)")
	f.StringVar(&c.Address, "address", c.Address, "IP address the vcluster's apiserver listens and is reached at")
	f.IntVar(&c.Port, "port", c.Port, "port of the vcluster's apiserver")
	f.StringVar(&c.Lifeline, "lifeline", c.Lifeline, "lock file the agent holds while it runs; the control plane stops once the agent is gone for --orphan-grace")
	f.DurationVar(&c.OrphanGrace, "orphan-grace", c.OrphanGrace, "how long the control plane outlives its agent")
	f.StringVar(&c.Backend, "backend", c.Backend, "kine endpoint of an External store (default: SQLite in --data-dir)")
	f.StringVar(&c.PublishSecret, "publish-kubeconfig-secret", c.PublishSecret, "in a pod: write the admin kubeconfig into this Secret of the pod's namespace ($"+PodNamespaceEnv+")")
	f.StringVar(&c.PublishServer, "publish-server", c.PublishServer, "server address of the published kubeconfig, for example https://vfleet-apiserver.ns.svc")
	f.StringVar(&c.ServiceCIDR, "service-cidr", c.ServiceCIDR, "the vcluster's Service range; the host's, so that host ClusterIPs fit")
	f.StringVar(&s.HostNamespace, "host-namespace", s.HostNamespace, "run the syncer into this namespace of the host (off when empty)")
	f.StringVar(&s.HostKubeconfig, "host-kubeconfig", s.HostKubeconfig, "kubeconfig of the host for the syncer (default: in-cluster)")
	f.StringVar(&s.VClusterNamespace, "vcluster-namespace", s.VClusterNamespace, "namespace of the VirtualCluster on the management cluster")
	f.StringVar(&s.VClusterUID, "vcluster-uid", s.VClusterUID, "UID of the VirtualCluster; host objects are marked with it")
	addIsolationFlags(f, &s.Isolation)
	f.BoolVar(&s.SyncAllConfigMaps, "sync-all-configmaps", s.SyncAllConfigMaps, "copy every ConfigMap to the host, not only those pods use")
	f.BoolVar(&s.SyncAllSecrets, "sync-all-secrets", s.SyncAllSecrets, "copy every Secret to the host, not only those pods use")
	f.StringVar(&s.HostsFileImage, "hosts-file-image", s.HostsFileImage, "vfleet image an init container of each host pod runs to write its /etc/hosts in the vcluster's names (empty: the host kubelet's, which names the host copy)")
	f.StringVar(&c.DNS, "dns", c.DNS, "the CoreDNS binary that serves the tenant's DNS with the syncer (none when empty)")
	f.StringSliceVar(&c.DNSUpstreams, "dns-upstream", c.DNSUpstreams, "resolvers (IP or IP:port) asked names outside the vcluster (default: those of /etc/resolv.conf)")
	f.StringSliceVar(&c.SANs, "san", c.SANs, "further names or addresses for the apiserver's certificate")
	f.StringVar(&c.BinRoot, "bin-root", c.BinRoot, "directory with one subdirectory of binaries per Kubernetes version")
	f.StringVar(&c.KubernetesVersion, "kubernetes-version", c.KubernetesVersion, "Kubernetes version of the control plane")
}

// ReadEnv takes the settings the environment carries, unless c has them
// already (--backend wins over BackendEnv).
func (c *Config) ReadEnv(getenv func(string) string) {
	if c.Backend == "" {
		c.Backend = getenv(BackendEnv)
	}
	if c.PodNamespace == "" {
		c.PodNamespace = getenv(PodNamespaceEnv)
	}
	if c.Traceparent == "" {
		c.Traceparent = getenv(tracing.TraceparentEnv)
	}
}

// TakeEnv reads the settings the process's environment carries, as
// ReadEnv, and removes the store's credentials from it, so that the
// apiserver and controller-manager, which inherit the environment, never
// hold them, and nothing that reads their /proc/<pid>/environ finds them.
func (c *Config) TakeEnv() {
	c.ReadEnv(os.Getenv)
	_ = os.Unsetenv(BackendEnv)
	_ = os.Unsetenv(tracing.TraceparentEnv)
}

// Env is the environment that carries c's settings, as NAME=value.
func (c Config) Env() []string {
	var env []string
	if c.Backend != "" {
		env = append(env, BackendEnv+"="+c.Backend)
	}
	if c.PodNamespace != "" {
		env = append(env, PodNamespaceEnv+"="+c.PodNamespace)
	}
	if c.Traceparent != "" {
		env = append(env, tracing.TraceparentEnv+"="+c.Traceparent)
	}
	return env
}

// Args are the command's flags for c, in a fixed order, without the
// settings Env carries. A zero setting is left out, so that the command's
// default holds.
func (c Config) Args() []string {
	var f flags
	f.str("name", c.Name)
	f.str("data-dir", c.DataDir)
	f.str("identity-dir", c.IdentityDir)
	f.str("address", c.Address)
	f.add("port", strconv.Itoa(c.Port), c.Port != 0)
	f.str("bin-root", c.BinRoot)
	f.str("kubernetes-version", c.KubernetesVersion)
	for _, san := range c.SANs {
		f.add("san", csvField(san), true)
	}
	f.str("publish-kubeconfig-secret", c.PublishSecret)
	f.str("publish-server", c.PublishServer)
	f = append(f, c.Syncer.args()...)
	f.str("dns", c.DNS)
	f.str("dns-upstream", strings.Join(c.DNSUpstreams, ","))
	f.str("service-cidr", c.ServiceCIDR)
	f.str("lifeline", c.Lifeline)
	f.add("orphan-grace", c.OrphanGrace.String(), c.OrphanGrace != 0)
	return f
}

func (s Syncer) args() flags {
	var f flags
	f.str("host-namespace", s.HostNamespace)
	f.str("host-kubeconfig", s.HostKubeconfig)
	f.str("vcluster-namespace", s.VClusterNamespace)
	f.str("vcluster-uid", s.VClusterUID)
	f = append(f, isolationArgs(s.Isolation, s.HostNamespace != "")...)
	f.add("sync-all-configmaps", "true", s.SyncAllConfigMaps)
	f.add("sync-all-secrets", "true", s.SyncAllSecrets)
	f.str("hosts-file-image", s.HostsFileImage)
	return f
}

// flags is a command line under construction.
type flags []string

func (f *flags) add(name, value string, set bool) {
	if set {
		*f = append(*f, "--"+name+"="+value)
	}
}

func (f *flags) str(name, value string) { f.add(name, value, value != "") }

// csvField quotes s as --san's parser, a CSV reader, needs: a comma or
// quote in a name would otherwise split or mangle it, and an empty one
// would vanish.
func csvField(s string) string {
	if s == "" {
		return `""`
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{s}) // a strings.Builder does not fail
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// CheckDNSUpstreams refuses a resolver that is not an IP address, with or
// without a port.
func CheckDNSUpstreams(upstreams []string) error {
	var errs []error
	for _, u := range upstreams {
		host, port, err := net.SplitHostPort(u)
		if err != nil {
			host, port = u, "53"
		}
		if p, perr := strconv.Atoi(port); net.ParseIP(host) == nil || perr != nil || p <= 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("DNS upstream %q: want an IP address, or IP:port", u))
		}
	}
	return errors.Join(errs...)
}
