package lab

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/lab/images"
)

// Component is one process of a lab cluster.
type Component string

// The processes a lab cluster is made of.
const (
	Etcd                  Component = "etcd"
	KubeAPIServer         Component = "kube-apiserver"
	KubeControllerManager Component = "kube-controller-manager"
	KubeScheduler         Component = "kube-scheduler"
	Kwok                  Component = "kwok"
	// Hub runs on the management cluster, Agent on each host; both are
	// the vfleet binary.
	Hub   Component = "hub"
	Agent Component = "agent"
	// Postgres is the management cluster's PostgreSQL server: the lab's
	// External backing store, from the distribution's binaries.
	Postgres Component = "postgres"
	// StoreEtcd is the management cluster's etcd backing store, apart
	// from its own etcd: client certificates, auth on, a prefix per
	// vcluster.
	StoreEtcd Component = "store-etcd"
	// Gateway is the region's one endpoint for every vcluster, which
	// tenants' kubeconfigs name.
	Gateway Component = "gateway"
)

// In start order. The management cluster runs a controller-manager so that
// namespace deletion and garbage collection work there as on any real
// cluster; it has no nodes, so no scheduler or kwok.
var (
	managementComponents = []Component{Etcd, KubeAPIServer, KubeControllerManager, Postgres, StoreEtcd, Hub, Gateway}
	hostComponents       = []Component{Etcd, KubeAPIServer, KubeControllerManager, KubeScheduler, Kwok, Agent}
)

// binaries is every Kubernetes executable a lab needs, from BinDir.
var binaries = []string{string(Etcd), string(KubeAPIServer), string(KubeControllerManager), string(KubeScheduler), string(Kwok)}

// Ports are the loopback ports one cluster listens on. Zero means unused.
type Ports struct {
	EtcdClient        int `json:"etcdClient"`
	EtcdPeer          int `json:"etcdPeer"`
	APIServer         int `json:"apiServer"`
	ControllerManager int `json:"controllerManager,omitempty"`
	Scheduler         int `json:"scheduler,omitempty"`
	Kwok              int `json:"kwok,omitempty"`
	HubJoin           int `json:"hubJoin,omitempty"`
	HubHealth         int `json:"hubHealth,omitempty"`
	HubMetrics        int `json:"hubMetrics,omitempty"`
	AgentHealth       int `json:"agentHealth,omitempty"`
	AgentMetrics      int `json:"agentMetrics,omitempty"`
	Postgres          int `json:"postgres,omitempty"`
	StoreEtcdClient   int `json:"storeEtcdClient,omitempty"`
	StoreEtcdPeer     int `json:"storeEtcdPeer,omitempty"`
	Gateway           int `json:"gateway,omitempty"`
	GatewayHealth     int `json:"gatewayHealth,omitempty"`
	GatewayMetrics    int `json:"gatewayMetrics,omitempty"`
	// ControlPlanes is the first of controlPlanePorts ports the agent
	// gives its vclusters' apiservers.
	ControlPlanes int `json:"controlPlanes,omitempty"`
	// RealNodes are the ports of each real node's kubelet, and
	// KubeProxy* the machine's kube-proxy's.
	RealNodes        []NodePorts `json:"realNodes,omitempty"`
	KubeProxyHealthz int         `json:"kubeProxyHealthz,omitempty"`
	KubeProxyMetrics int         `json:"kubeProxyMetrics,omitempty"`
}

// controlPlanePorts is how many vcluster apiservers a lab host can run:
// more than two cores carry.
const controlPlanePorts = 16

// of returns the ports component listens on.
func (p Ports) of(c Component) []int {
	switch c {
	case Etcd:
		return []int{p.EtcdClient, p.EtcdPeer}
	case KubeAPIServer:
		return []int{p.APIServer}
	case KubeControllerManager:
		return []int{p.ControllerManager}
	case KubeScheduler:
		return []int{p.Scheduler}
	case Kwok:
		return []int{p.Kwok}
	case Hub:
		return []int{p.HubJoin, p.HubHealth, p.HubMetrics}
	case Agent:
		return []int{p.AgentHealth, p.AgentMetrics}
	case Postgres:
		return []int{p.Postgres}
	case StoreEtcd:
		return []int{p.StoreEtcdClient, p.StoreEtcdPeer}
	case Gateway:
		return []int{p.Gateway, p.GatewayHealth, p.GatewayMetrics}
	case KubeProxy:
		return []int{p.KubeProxyHealthz, p.KubeProxyMetrics}
	}
	if i, kubelet := realNodeOf(c); kubelet && i <= len(p.RealNodes) {
		return []int{p.RealNodes[i-1].Kubelet, p.RealNodes[i-1].Healthz}
	}
	return nil
}

// assign fills the ports of components from next, in a fixed order.
func (p *Ports) assign(components []Component, next func() int) {
	p.RealNodes = nil
	for _, c := range components {
		switch c {
		case Etcd:
			p.EtcdClient, p.EtcdPeer = next(), next()
		case KubeAPIServer:
			p.APIServer = next()
		case KubeControllerManager:
			p.ControllerManager = next()
		case KubeScheduler:
			p.Scheduler = next()
		case Kwok:
			p.Kwok = next()
		case Hub:
			p.HubJoin, p.HubHealth, p.HubMetrics = next(), next(), next()
		case Postgres:
			p.Postgres = next()
		case StoreEtcd:
			p.StoreEtcdClient, p.StoreEtcdPeer = next(), next()
		case Gateway:
			p.Gateway, p.GatewayHealth, p.GatewayMetrics = next(), next(), next()
		case KubeProxy:
			p.KubeProxyHealthz, p.KubeProxyMetrics = next(), next()
		case Agent:
			p.AgentHealth, p.AgentMetrics = next(), next()
			p.ControlPlanes = next()
			for range controlPlanePorts - 1 {
				next()
			}
		}
		if _, kubelet := realNodeOf(c); kubelet {
			p.RealNodes = append(p.RealNodes, NodePorts{Kubelet: next(), Healthz: next()})
		}
	}
}

func portCount(components []Component) int {
	n := 0
	var p Ports
	p.assign(components, func() int { n++; return n })
	return n
}

const (
	// serviceCIDR is each cluster's service range. Clusters are separate, so
	// they may share it; the apiserver takes the first address.
	serviceCIDR = "10.96.0.0/16"
	// nodeLeaseSeconds is the node Lease duration kwok keeps, as a kubelet
	// would; it renews every quarter of it.
	nodeLeaseSeconds = 40
)

func url(port int) string { return "https://127.0.0.1:" + strconv.Itoa(port) }

// GatewayAddress is where tenants reach the vclusters of a management
// cluster's region: its gateway, on loopback.
func (c *Cluster) GatewayAddress() string { return "127.0.0.1:" + strconv.Itoa(c.ports.Gateway) }

// spec returns how to run component c of the cluster.
func (c *Cluster) spec(comp Component) procgroup.Spec {
	if spec, ok := c.realNodeSpec(comp); ok {
		return spec
	}
	p := c.paths
	switch comp {
	case Postgres:
		return c.pg.Spec(c.Name+"/"+string(comp), c.ports.Postgres, p.log(comp))
	case StoreEtcd:
		return c.storeEtcd.Spec(c.Name+"/"+string(comp), c.ports.StoreEtcdClient, c.ports.StoreEtcdPeer, p.log(comp))
	}
	var args, env []string
	switch comp {
	case Etcd:
		args = c.etcdArgs()
	case KubeAPIServer:
		args = c.apiServerArgs()
	case KubeControllerManager:
		args = append(c.componentServing(comp, c.ports.ControllerManager),
			"--cluster-name="+c.Name,
			// Each controller acts as its own service account, with the
			// narrow role Kubernetes bootstraps for it, as kubeadm does.
			"--use-service-account-credentials",
			"--service-account-private-key-file="+p.pki("sa.key"),
			"--root-ca-file="+p.pki("ca.crt"),
		)
	case KubeScheduler:
		args = c.componentServing(comp, c.ports.Scheduler)
	case Kwok:
		args = []string{
			"--kubeconfig=" + p.kubeconfigFor(Kwok),
			"--config=" + p.kwokConfig,
			"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
			"--server-address=127.0.0.1:" + strconv.Itoa(c.ports.Kwok),
			"--node-lease-duration-seconds=" + strconv.Itoa(nodeLeaseSeconds),
		}
		// kwok also reads ~/.kwok/kwok.yaml when it exists; a HOME of its
		// own keeps a developer's kwok settings out of the lab.
		env = []string{"HOME=" + p.kwokHome}
	case Hub, Gateway, Agent:
		args = c.vfleetArgs(comp)
	}
	path := filepath.Join(c.binDir, string(comp))
	if comp == Hub || comp == Agent || comp == Gateway {
		path, env = c.vfleetBin, append(env, c.vfleetEnv...)
	}
	if comp == Hub {
		// Not the agent's: its control planes' sockets need short paths.
		env = append(env, "TMPDIR="+p.tmp)
		path, args = c.inRegionNetNS(path, args)
	}
	return procgroup.Spec{
		Name:    c.Name + "/" + string(comp),
		Path:    path,
		Args:    args,
		Env:     env,
		Dir:     c.paths.root,
		LogFile: p.log(comp),
	}
}

// etcdArgs run the cluster's etcd: mutual TLS to clients and peers.
func (c *Cluster) etcdArgs() []string {
	p := c.paths
	peer := url(c.ports.EtcdPeer)
	return []string{
		"--name=" + c.Name,
		"--data-dir=" + p.etcdData,
		"--listen-client-urls=" + url(c.ports.EtcdClient),
		"--advertise-client-urls=" + url(c.ports.EtcdClient),
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=" + c.Name + "=" + peer,
		"--initial-cluster-state=new",
		"--client-cert-auth",
		"--trusted-ca-file=" + p.pki("etcd-ca.crt"),
		"--cert-file=" + p.pki("etcd-server.crt"),
		"--key-file=" + p.pki("etcd-server.key"),
		"--peer-client-cert-auth",
		"--peer-trusted-ca-file=" + p.pki("etcd-ca.crt"),
		"--peer-cert-file=" + p.pki("etcd-server.crt"),
		"--peer-key-file=" + p.pki("etcd-server.key"),
		"--log-level=warn",
	}
}

// apiServerArgs run the cluster's kube-apiserver over its etcd.
func (c *Cluster) apiServerArgs() []string {
	p := c.paths
	bind, advertise, reconciler := c.apiAddress().String(), c.apiAddress().String(), "none"
	if addr := c.podReachableAddress(); addr != nil {
		// Pods of real nodes reach it through the kubernetes Service, at
		// the first real node's address: their gateway.
		bind, advertise, reconciler = "0.0.0.0", addr.String(), "lease"
	}
	return []string{
		"--bind-address=" + bind,
		"--advertise-address=" + advertise,
		"--endpoint-reconciler-type=" + reconciler,
		"--secure-port=" + strconv.Itoa(c.ports.APIServer),
		"--tls-cert-file=" + p.pki("apiserver.crt"),
		"--tls-private-key-file=" + p.pki("apiserver.key"),
		"--client-ca-file=" + p.pki("ca.crt"),
		"--etcd-servers=" + url(c.ports.EtcdClient),
		"--etcd-cafile=" + p.pki("etcd-ca.crt"),
		"--etcd-certfile=" + p.pki("apiserver-etcd-client.crt"),
		"--etcd-keyfile=" + p.pki("apiserver-etcd-client.key"),
		"--service-account-issuer=" + url(c.ports.APIServer),
		"--service-account-key-file=" + p.pki("sa.pub"),
		"--service-account-signing-key-file=" + p.pki("sa.key"),
		"--service-cluster-ip-range=" + serviceCIDR,
		// Kubelets of real nodes reach only their own node's objects.
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		// As a kubeadm cluster allows: a host's own infrastructure may run
		// privileged pods. What a tenant's pods may do is its class's, and
		// the syncer holds them to it whatever the host allows.
		"--allow-privileged=true",
		// The apiserver calls kubelets (logs, exec) as a client they
		// authorize, verifies their serving certificates, and reaches them
		// by address: node names do not resolve here.
		"--kubelet-client-certificate=" + p.pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + p.pki("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + p.pki("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--profiling=false",
	}
}

// hubOneReplica runs the lab's hub as one replica, as the other
// components: with leader election, a restarted hub waited out its old
// Lease, and a hub whose Lease renewal timed out on a loaded machine
// exited, with nothing to restart it as a Deployment would (its region
// then looked lost to the federation).
const hubOneReplica = "--leader-elect=false"

// componentServing returns the flags shared by the controller-manager and the
// scheduler: their client identity, and HTTPS serving of /healthz on port
// with a certificate from the cluster CA.
func (c *Cluster) componentServing(comp Component, port int) []string {
	kc := c.paths.kubeconfigFor(comp)
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + c.paths.pki("serving.crt"),
		"--tls-private-key-file=" + c.paths.pki("serving.key"),
		// A single instance: leader election would only delay a restarted
		// component until the old lease expires.
		"--leader-elect=false",
		"--profiling=false",
	}
}

// paths is where one cluster keeps its files.
type paths struct {
	root       string
	etcdData   string
	kubeconfig string // the admin kubeconfig, the one users get
	kwokConfig string
	kwokHome   string
	// tmp is the hub's temporary directory: what it leaves there when it
	// is killed (its metrics certificate) goes with the lab.
	tmp string
	// bootstrapTokens is the directory holding each host's bootstrap
	// token (on the management cluster).
	bootstrapTokens string
	// agentData is the agent's data directory (on a host).
	agentData string
}

// bootstrapToken is the file holding host's bootstrap token.
func (p paths) bootstrapToken(host string) string { return filepath.Join(p.bootstrapTokens, host) }

func newPaths(root string) paths {
	return paths{
		root:       root,
		etcdData:   filepath.Join(root, "etcd"),
		kubeconfig: filepath.Join(root, "kubeconfig"),
		kwokConfig: filepath.Join(root, "kwok", "kwok.yaml"),
		kwokHome:   filepath.Join(root, "kwok", "home"),
		tmp:        filepath.Join(root, "tmp"),

		bootstrapTokens: filepath.Join(root, "bootstrap-tokens"),
		agentData:       filepath.Join(root, "agent"),
	}
}

func (p paths) pki(name string) string { return filepath.Join(p.root, "pki", name) }

func (p paths) log(c Component) string { return filepath.Join(p.root, "logs", string(c)+".log") }

func (p paths) kubeconfigFor(c Component) string {
	return filepath.Join(p.root, "pki", strings.TrimPrefix(string(c), "kube-")+".kubeconfig")
}

func (p paths) dirs() []string {
	return []string{p.root, filepath.Join(p.root, "pki"), filepath.Join(p.root, "logs"), p.kwokHome, p.tmp}
}

// describe is a component's label in messages: "host-1 kube-apiserver".
func (c *Cluster) describe(comp Component) string { return fmt.Sprintf("%s %s", c.Name, comp) }

// vfleetArgs are the arguments of a component the vfleet binary runs.
func (c *Cluster) vfleetArgs(comp Component) []string {
	p := c.paths
	var args []string
	switch comp {
	case Hub:
		args = []string{"hub",
			"--kubeconfig=" + p.kubeconfigFor(Hub),
			"--join-bind-address=" + c.hubHostPort(c.ports.HubJoin),
			"--tls-cert-file=" + p.pki("hub-serving.crt"),
			"--tls-private-key-file=" + p.pki("hub-serving.key"),
			"--health-probe-bind-address=" + c.hubHostPort(c.ports.HubHealth),
			"--metrics-bind-address=" + c.hubHostPort(c.ports.HubMetrics), "--metrics-advertise-url=https://" + c.hubHostPort(c.ports.HubMetrics),
			hubOneReplica,
			"--gateway-address=" + c.GatewayAddress(),
		}
		if c.region != nil {
			args = append(args, c.region.HubArgs...)
		}
	case Gateway:
		args = []string{"gateway",
			"--kubeconfig=" + p.kubeconfigFor(Gateway),
			"--bind-address=" + c.GatewayAddress(),
			"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(c.ports.GatewayHealth),
			"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(c.ports.GatewayMetrics),
			// Verbose enough to tell why a connection was held or refused.
			"--zap-log-level=debug",
		}
	case Agent:
		args = []string{"agent",
			"--host-kubeconfig=" + p.kubeconfigFor(Agent),
			"--hub=" + c.fleet.hubURL,
			"--hub-ca-file=" + c.fleet.hubCAFile,
			"--bootstrap-token-file=" + c.fleet.tokenFile,
			"--host-name=" + c.Name,
			"--region=" + c.Host.Region,
			"--zone=" + c.Host.Zone,
			"--data-dir=" + p.agentData,
			// The lab's binaries are bin/k8s/<version>/: one version.
			"--bin-root=" + filepath.Dir(c.binDir),
			"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(c.ports.AgentHealth), "--metrics-bind-address=127.0.0.1:" + strconv.Itoa(c.ports.AgentMetrics),
			"--control-plane-ports=" + strconv.Itoa(c.ports.ControlPlanes) + "-" + strconv.Itoa(c.ports.ControlPlanes+controlPlanePorts-1),
		}
		if c.Host.Runtime == RuntimeKubernetes {
			args = append(args, c.kubernetesRuntimeArgs()...)
		} else if addr := c.podReachableAddress(); addr != nil {
			// The vclusters' apiservers and DNS listen where pods of the
			// real nodes reach them (their gateway), and the syncer points
			// the pods there. Names outside a vcluster are the host's DNS
			// to answer.
			args = append(args, "--control-plane-address="+addr.String(), "--tenant-dns="+k8sbin.CoreDNS(), "--tenant-dns-upstream="+ClusterDNS,
				// Every real node has the vfleet image: its init container
				// writes the pods' /etc/hosts in their vcluster's names.
				"--tenant-hosts-file-image="+images.Vfleet)
		} else {
			// Pods of kwok nodes never run, so nothing would ask a DNS:
			// a process less for each vcluster.
			args = append(args, "--tenant-dns=")
		}
	}
	return args
}
