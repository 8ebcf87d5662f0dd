package agent

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vfleet/vfleet/controlplane/launch"
	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/serving"

	"github.com/vfleet/vfleet/internal/overhead"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// Options configure the agent.
type Options struct {
	// HostKubeconfig reaches the host cluster; empty means in-cluster.
	HostKubeconfig string
	// HubURL is the hub's join endpoint, https://...
	HubURL string
	// HubCAFile verifies the hub's serving certificate.
	HubCAFile string
	// BootstrapToken (or the file holding it) joins the fleet; it is needed
	// only until the agent holds credentials of its own.
	BootstrapToken     string
	BootstrapTokenFile string

	HostName string
	Region   string
	Zone     string

	// DataDir keeps the agent's credentials across restarts.
	DataDir string

	LeaseRenewInterval time.Duration
	LeaseDuration      time.Duration
	// SelfFenceAfter is how long the agent runs control planes without
	// renewing its Lease; it must be below the failover delay of the
	// vclusters placed here (the hub checks).
	SelfFenceAfter time.Duration
	// ReportMinInterval is the least time between two status reports; a
	// change within it is reported when it has passed.
	ReportMinInterval time.Duration

	// BinRoot holds one directory per Kubernetes version the host can run
	// control planes of (BinRoot/v1.36.3/kube-apiserver).
	BinRoot string

	// ControlPlaneOverhead is what a control plane costs the host beyond
	// its vcluster's quota, counted in what the host has committed.
	ControlPlaneOverhead overhead.Flags

	// Runtime runs control planes: "process" (children of the agent's
	// machine) or "kubernetes" (workloads of the host cluster).
	Runtime string
	// ControlPlaneAddress is the IP control planes of the process runtime
	// listen and are reached at.
	ControlPlaneAddress string
	// ControlPlanePorts is the range their apiservers' ports come from,
	// "first-last".
	ControlPlanePorts string
	// OrphanGrace is how long a process control plane outlives its agent.
	OrphanGrace time.Duration
	// MaxStarting is how many process control planes start at once; the
	// rest wait their turn (process.Options.MaxStarting). 0 is no bound.
	MaxStarting int
	// VClusterServiceCIDR is the vclusters' Service range when the host
	// does not publish its own (a ServiceCIDR object).
	VClusterServiceCIDR string
	// ControlPlaneImage is the vfleet image the kubernetes runtime runs,
	// with BinRoot inside it.
	ControlPlaneImage string
	// ControlPlaneNodeSelector and ControlPlaneTolerations put the
	// kubernetes runtime's control plane pods on the host's nodes for
	// them; ControlPlaneStorageClass gives their volumes (empty: the
	// host's default class).
	ControlPlaneNodeSelector map[string]string
	ControlPlaneTolerations  []string
	ControlPlaneStorageClass string
	// ControlPlaneVersions are the Kubernetes versions the kubernetes
	// runtime's image carries.
	ControlPlaneVersions []string
	// TenantDNS is the CoreDNS binary each control plane serves its
	// tenant's DNS with (for the kubernetes runtime, its path in the
	// image); empty runs none, and tenants' pods resolve with the host's
	// DNS, which knows nothing of their Services. TenantDNSUpstreams are
	// the resolvers asked names outside a vcluster.
	TenantDNS          string
	TenantDNSUpstreams []string
	// TenantHostsFileImage is the vfleet image that writes each tenant
	// pod's /etc/hosts in its vcluster's names (see hostsfile); empty
	// means ControlPlaneImage, and TenantHostsFileNone leaves the host
	// kubelet's file, which names the host copy.
	TenantHostsFileImage string

	Serving serving.Addresses
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		DataDir:              "/var/lib/vfleet-agent",
		LeaseRenewInterval:   2 * time.Second,
		LeaseDuration:        10 * time.Second,
		SelfFenceAfter:       10 * time.Second,
		ReportMinInterval:    time.Second,
		BinRoot:              "/opt/vfleet/k8s",
		ControlPlaneOverhead: overhead.Default(),
		Runtime:              RuntimeProcess,
		ControlPlaneAddress:  "127.0.0.1",
		ControlPlanePorts:    "16443-16942",
		OrphanGrace:          launch.DefaultOrphanGrace,
		// A start keeps about one core busy. GOMAXPROCS is the CPUs the
		// agent may use, a container's limit included.
		MaxStarting:         goruntime.GOMAXPROCS(0),
		VClusterServiceCIDR: launch.DefaultServiceCIDR,
		// The image built with this vfleet carries the binaries it was
		// built with.
		ControlPlaneVersions: []string{k8sbin.Version},
		TenantDNS:            TenantDNSAuto,
		Serving:              serving.Addresses{HealthProbe: ":8091", Metrics: "0"},
	}
}

// AddFlags binds the options to flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.HostKubeconfig, "host-kubeconfig", o.HostKubeconfig, "kubeconfig of the host cluster (default: in-cluster)")
	fs.StringVar(&o.HubURL, "hub", o.HubURL, "URL of the hub's join endpoint, for example https://hub.example.com:9443")
	fs.StringVar(&o.HubCAFile, "hub-ca-file", o.HubCAFile, "CA certificate that verifies the hub")
	fs.StringVar(&o.BootstrapToken, "bootstrap-token", o.BootstrapToken, "bootstrap token to join the fleet (from vfleet hub token create)")
	fs.StringVar(&o.BootstrapTokenFile, "bootstrap-token-file", o.BootstrapTokenFile, "file holding the bootstrap token, instead of --bootstrap-token")
	fs.StringVar(&o.HostName, "host-name", o.HostName, "name of this host in the fleet")
	fs.StringVar(&o.Region, "region", o.Region, "region of this host")
	fs.StringVar(&o.Zone, "zone", o.Zone, "zone of this host")
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir, "where the agent keeps its credentials")
	fs.DurationVar(&o.LeaseRenewInterval, "lease-renew-interval", o.LeaseRenewInterval, "how often the heartbeat Lease is renewed")
	fs.DurationVar(&o.LeaseDuration, "lease-duration", o.LeaseDuration, "how long a renewal holds; the hub marks the host Unknown after it")
	fs.DurationVar(&o.SelfFenceAfter, "self-fence-after", o.SelfFenceAfter, "stop every control plane when the Lease has not been renewed for this long; vclusters that fail over are placed here only if it is below their failover.afterSeconds")
	fs.DurationVar(&o.ReportMinInterval, "report-min-interval", o.ReportMinInterval, "least time between two capacity reports")
	fs.StringVar(&o.BinRoot, "bin-root", o.BinRoot, "directory with one subdirectory of binaries per Kubernetes version")
	o.ControlPlaneOverhead.AddFlags(fs)
	fs.StringVar(&o.Runtime, "runtime", o.Runtime, "how control planes run: process (on this machine) or kubernetes (in the host cluster)")
	fs.StringVar(&o.ControlPlaneAddress, "control-plane-address", o.ControlPlaneAddress, "IP address process control planes listen and are reached at")
	fs.StringVar(&o.ControlPlanePorts, "control-plane-ports", o.ControlPlanePorts, "range of ports for process control planes' apiservers, first-last")
	fs.StringVar(&o.VClusterServiceCIDR, "vcluster-service-cidr", o.VClusterServiceCIDR, "Service range of vclusters when the host has no ServiceCIDR object to read its own from")
	fs.StringVar(&o.ControlPlaneImage, "control-plane-image", o.ControlPlaneImage, "vfleet image the kubernetes runtime runs control planes from (its --bin-root is inside the image)")
	fs.StringToStringVar(&o.ControlPlaneNodeSelector, "control-plane-node-selector", o.ControlPlaneNodeSelector, "node labels the kubernetes runtime's control plane pods must match, key=value,...")
	fs.StringSliceVar(&o.ControlPlaneTolerations, "control-plane-tolerations", o.ControlPlaneTolerations, "taints the kubernetes runtime's control plane pods tolerate, key[=value]:Effect,...")
	fs.StringSliceVar(&o.ControlPlaneVersions, "control-plane-versions", o.ControlPlaneVersions, "Kubernetes versions the kubernetes runtime's image carries under its --bin-root")
	fs.StringVar(&o.ControlPlaneStorageClass, "control-plane-storage-class", o.ControlPlaneStorageClass, "StorageClass of the kubernetes runtime's control plane volumes (default: the host's default class)")
	fs.StringVar(&o.TenantDNS, "tenant-dns", o.TenantDNS, "CoreDNS binary each vcluster's DNS runs from (with --runtime=kubernetes, its path in the image); auto: the one make binaries builds beside vfleet, else "+DefaultTenantDNS+"; empty runs none, and tenants' pods cannot resolve their Services")
	fs.StringVar(&o.TenantHostsFileImage, "tenant-hosts-file-image", o.TenantHostsFileImage, "vfleet image an init container of each tenant pod runs to write its /etc/hosts in the vcluster's names (default: --control-plane-image; "+TenantHostsFileNone+": the host kubelet's file, which names the host's copy of the pod)")
	fs.StringSliceVar(&o.TenantDNSUpstreams, "tenant-dns-upstream", o.TenantDNSUpstreams, "resolvers (IP or IP:port) vclusters' DNS asks names outside the vcluster (default: /etc/resolv.conf of the control plane)")
	fs.IntVar(&o.MaxStarting, "max-starting-control-planes", o.MaxStarting, "how many process control planes start at once (default: one a CPU the agent may use); the rest wait their turn, so a host taking over many vclusters brings the first back sooner; 0 starts every one at once")
	fs.DurationVar(&o.OrphanGrace, "orphan-grace", o.OrphanGrace, "how long a process control plane keeps running without its agent; a restarted agent adopts it meanwhile")
	o.Serving.AddFlags(fs)
}

// Validate reports every problem with the options.
func (o *Options) Validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(o.HostName); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--host-name %q: %s", o.HostName, strings.Join(msgs, "; ")))
	} else if len(fleetv1.HostNamespace(o.HostName)) > validation.DNS1123LabelMaxLength {
		errs = append(errs, fmt.Errorf("--host-name %q: at most 51 characters", o.HostName))
	}
	if o.Region == "" {
		errs = append(errs, errors.New("--region is required"))
	}
	if u, err := url.Parse(o.HubURL); err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, fmt.Errorf("--hub %q: want the hub's https:// URL", o.HubURL))
	}
	if o.HubCAFile == "" {
		errs = append(errs, errors.New("--hub-ca-file is required: the agent verifies the hub before sending it a token"))
	}
	if o.BootstrapToken != "" && o.BootstrapTokenFile != "" {
		errs = append(errs, errors.New("--bootstrap-token and --bootstrap-token-file are exclusive"))
	}
	if o.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required"))
	}
	if o.MaxStarting < 0 {
		errs = append(errs, fmt.Errorf("--max-starting-control-planes %d: want 0 (no bound) or more", o.MaxStarting))
	}
	if o.LeaseDuration < time.Second || o.LeaseRenewInterval <= 0 || o.LeaseRenewInterval >= o.LeaseDuration {
		errs = append(errs, fmt.Errorf("--lease-renew-interval (%s) must be positive and below --lease-duration (%s), itself at least 1s",
			o.LeaseRenewInterval, o.LeaseDuration))
	}
	if o.SelfFenceAfter < 2*o.LeaseRenewInterval || o.SelfFenceAfter%time.Second != 0 {
		errs = append(errs, fmt.Errorf("--self-fence-after (%s) must be whole seconds and at least two --lease-renew-interval (%s), or one slow renewal would stop every control plane",
			o.SelfFenceAfter, o.LeaseRenewInterval))
	}
	if o.ReportMinInterval < 0 {
		errs = append(errs, errors.New("--report-min-interval must not be negative"))
	}
	if _, _, err := o.ControlPlaneOverhead.Parse(); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := net.ParseCIDR(o.VClusterServiceCIDR); err != nil {
		errs = append(errs, fmt.Errorf("--vcluster-service-cidr %q: want a CIDR such as 10.96.0.0/16", o.VClusterServiceCIDR))
	}
	if err := launch.CheckDNSUpstreams(o.TenantDNSUpstreams); err != nil {
		errs = append(errs, fmt.Errorf("--tenant-dns-upstream: %w", err))
	}
	switch o.Runtime {
	case RuntimeProcess:
		if net.ParseIP(o.ControlPlaneAddress) == nil {
			errs = append(errs, fmt.Errorf("--control-plane-address %q: want an IP address", o.ControlPlaneAddress))
		}
		if _, _, err := o.portRange(); err != nil {
			errs = append(errs, err)
		}
		if _, err := o.tenantDNS(); err != nil {
			errs = append(errs, err)
		}
	case RuntimeKubernetes:
		if o.ControlPlaneImage == "" {
			errs = append(errs, errors.New("--runtime=kubernetes needs --control-plane-image"))
		}
		if _, err := ParseTolerations(o.ControlPlaneTolerations); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("--runtime %q: want process or kubernetes", o.Runtime))
	}
	return errors.Join(errs...)
}

// Runtimes an agent can run control planes with.
const (
	RuntimeProcess    = "process"
	RuntimeKubernetes = "kubernetes"
)

// Where --tenant-dns finds CoreDNS.
const (
	// TenantHostsFileNone turns the hosts file's init container off.
	TenantHostsFileNone = "none"
	// DefaultTenantDNS is where the vfleet image has CoreDNS.
	DefaultTenantDNS = "/usr/local/bin/coredns"
	// TenantDNSAuto, the default, finds it: see tenantDNS.
	TenantDNSAuto = "auto"
)

// portRange parses --control-plane-ports.
func (o *Options) portRange() (int, int, error) {
	first, last, ok := strings.Cut(o.ControlPlanePorts, "-")
	a, errA := strconv.Atoi(first)
	b, errB := strconv.Atoi(last)
	if !ok || errA != nil || errB != nil || a <= 0 || b > 65535 || a > b {
		return 0, 0, fmt.Errorf("--control-plane-ports %q: want a range such as 16443-16942", o.ControlPlanePorts)
	}
	return a, b, nil
}

// bootstrapToken returns the token from the flag or its file.
func (o *Options) bootstrapToken() (string, error) {
	if o.BootstrapTokenFile == "" {
		return o.BootstrapToken, nil
	}
	data, err := os.ReadFile(o.BootstrapTokenFile)
	if err != nil {
		return "", fmt.Errorf("--bootstrap-token-file: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// overhead is the parsed --control-plane-overhead-*; Validate checked it.
func (o *Options) overhead() Overhead {
	cpu, mem, _ := o.ControlPlaneOverhead.Parse()
	return Overhead{CPU: cpu, Memory: mem}
}

// ParseTolerations reads --control-plane-tolerations: each "key:Effect"
// (any value) or "key=value:Effect".
func ParseTolerations(specs []string) ([]corev1.Toleration, error) {
	var out []corev1.Toleration
	for _, spec := range specs {
		kv, effect, ok := strings.Cut(spec, ":")
		e := corev1.TaintEffect(effect)
		if !ok || kv == "" || (e != corev1.TaintEffectNoSchedule && e != corev1.TaintEffectPreferNoSchedule && e != corev1.TaintEffectNoExecute) {
			return nil, fmt.Errorf("--control-plane-tolerations %q: want key[=value]:Effect, the effect NoSchedule, PreferNoSchedule or NoExecute", spec)
		}
		t := corev1.Toleration{Key: kv, Operator: corev1.TolerationOpExists, Effect: e}
		if key, value, ok := strings.Cut(kv, "="); ok {
			t = corev1.Toleration{Key: key, Operator: corev1.TolerationOpEqual, Value: value, Effect: e}
		}
		out = append(out, t)
	}
	return out, nil
}

// tenantDNS is the CoreDNS binary control planes run. With auto, the
// process runtime takes the one built beside this vfleet
// (bin/coredns/<version>/coredns), else DefaultTenantDNS; the kubernetes
// runtime takes DefaultTenantDNS, in the image.
func (o *Options) tenantDNS() (string, error) {
	switch {
	case o.TenantDNS == TenantDNSAuto && o.Runtime == RuntimeKubernetes:
		return DefaultTenantDNS, nil
	case o.TenantDNS == TenantDNSAuto:
		for _, p := range []string{k8sbin.CoreDNS(), DefaultTenantDNS} {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		return "", fmt.Errorf("--tenant-dns: no CoreDNS at %s or %s (make binaries builds one); --tenant-dns=PATH names it, --tenant-dns= runs vclusters without DNS", k8sbin.CoreDNS(), DefaultTenantDNS)
	case o.TenantDNS != "" && o.Runtime != RuntimeKubernetes:
		if _, err := os.Stat(o.TenantDNS); err != nil {
			return "", fmt.Errorf("--tenant-dns %s: no CoreDNS there (make binaries builds one into bin/coredns); --tenant-dns= runs vclusters without DNS", o.TenantDNS)
		}
	}
	return o.TenantDNS, nil
}

// tenantHostsFileImage is the image tenant pods' /etc/hosts is written
// with, if any: see TenantHostsFileImage.
func (o *Options) tenantHostsFileImage() string {
	switch o.TenantHostsFileImage {
	case TenantHostsFileNone:
		return ""
	case "":
		return o.ControlPlaneImage
	default:
		return o.TenantHostsFileImage
	}
}
