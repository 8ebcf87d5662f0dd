package lab

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/lab/etcdserver"
	"github.com/vfleet/vfleet/lab/pgserver"
)

// Role tells a management cluster from a host cluster.
type Role string

// Cluster roles.
const (
	RoleManagement Role = "management"
	RoleHost       Role = "host"
)

const (
	// componentTimeout bounds how long one process may take to become
	// healthy. Cold starts of four clusters at once on two cores take a few
	// seconds each; a minute means something is wrong.
	componentTimeout = 90 * time.Second
	// stopGrace is how long a process may take to exit after SIGTERM.
	stopGrace = 15 * time.Second
	pollEvery = 200 * time.Millisecond
)

// Cluster is one cluster of the lab: the management cluster or a host.
type Cluster struct {
	Name string
	Role Role
	// Host is the host's configuration; zero for the management cluster.
	Host HostConfig

	index     int // position in the lab; 0 for the management cluster
	binDir    string
	vfleetBin string
	// vfleetEnv is the environment of its hub or agent beyond the lab's.
	vfleetEnv []string
	// containerdBinDir and imagesDir serve the host's real nodes.
	containerdBinDir string
	imagesDir        string
	fleet            fleetLinks
	paths            paths
	// region is the federation region of a management cluster, if any.
	region *RegionConfig
	// storeRegions are the host regions the management cluster's
	// PostgreSQL serves; pg is that server's cluster, once initialised.
	storeRegions []string
	pg           *pgserver.Cluster
	// storeEtcd is the etcd backing store's server, once initialised.
	storeEtcd *etcdserver.Server
	ports     Ports
	progress  *progress
	onChange  func() // the lab records pids in its state file

	mu    sync.Mutex
	procs map[Component]*procgroup.Process

	clientsOnce sync.Once
	clientsErr  error
	restConfig  *rest.Config
	kube        kubernetes.Interface
	probe       map[Component]func(context.Context) error
}

// fleetLinks tie a host's agent to the management cluster's hub.
type fleetLinks struct {
	hubURL    string
	hubCAFile string
	tokenFile string
	// joinReady waits until the hub answers and the agent has a token to
	// join with; the agent starts after it.
	joinReady func(context.Context) error
}

// Endpoint is the URL of the cluster's kube-apiserver.
func (c *Cluster) Endpoint() string {
	return "https://" + net.JoinHostPort(c.apiAddress().String(), strconv.Itoa(c.ports.APIServer))
}

// Kubeconfig is the path of the cluster's admin kubeconfig.
func (c *Cluster) Kubeconfig() string { return c.paths.kubeconfig }

// Components lists the cluster's processes in start order.
func (c *Cluster) Components() []Component {
	if c.Role == RoleHost {
		return componentsOf(c.Host)
	}
	if c.region != nil && c.region.Stores != nil {
		// Another region's lab runs the stores.
		return slices.DeleteFunc(slices.Clone(managementComponents), func(comp Component) bool { return comp == Postgres || comp == StoreEtcd })
	}
	return managementComponents
}

// RESTConfig returns an admin client configuration for the cluster.
func (c *Cluster) RESTConfig() (*rest.Config, error) {
	if err := c.initClients(); err != nil {
		return nil, err
	}
	return rest.CopyConfig(c.restConfig), nil
}

// Client returns an admin clientset for the cluster.
func (c *Cluster) Client() (kubernetes.Interface, error) {
	if err := c.initClients(); err != nil {
		return nil, err
	}
	return c.kube, nil
}

// Pids returns the process id of every running component.
func (c *Cluster) Pids() map[Component]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := map[Component]int{}
	for comp, p := range c.procs {
		if exited, _ := p.Exited(); !exited {
			pids[comp] = p.Pid()
		}
	}
	return pids
}

// Start brings every component that is not running up (and resumes paused
// ones), in dependency order,
// and waits until the cluster is ready for workloads: apiserver ready, every
// node Ready and schedulable, and the default service account present. Data
// from an earlier run is kept, so Start after Stop or Kill is a restart.
func (c *Cluster) Start(ctx context.Context) error {
	begin := time.Now()
	if err := c.initClients(); err != nil {
		return err
	}
	for _, comp := range []Component{Etcd, KubeAPIServer} {
		if err := c.ensure(ctx, comp); err != nil {
			return err
		}
	}
	if err := c.bootstrap(ctx); err != nil {
		return err
	}
	rest := c.Components()[2:] // the rest need only the apiserver
	var last []Component
	if c.Host.RealNodes > 0 {
		// The agent's control planes listen on a real node's address:
		// it starts once the node's bridge is there.
		rest, last = rest[:len(rest)-1], rest[len(rest)-1:]
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, group := range startGroups(rest) {
		g.Go(func() error {
			for _, comp := range group {
				if err := c.ensure(gctx, comp); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, comp := range last {
		if err := c.ensure(ctx, comp); err != nil {
			return err
		}
	}
	if err := c.waitWorkloadReady(ctx); err != nil {
		return err
	}
	if err := c.waitDNS(ctx); err != nil {
		return err
	}
	c.progress.printf("%s: ready in %s (%s)", c.Name, since(begin), c.Endpoint())
	return nil
}

// Stop stops the given components (all when none are named) with SIGTERM,
// in reverse start order, killing any that do not exit within a grace period.
func (c *Cluster) Stop(ctx context.Context, comps ...Component) error {
	var errs []error
	if len(comps) == 0 && c.Role == RoleHost {
		// The whole host stops, vclusters included: the agent first, or it
		// would start again the control planes it sees stop.
		if p := c.proc(Agent); p != nil {
			errs = append(errs, p.Stop(ctx, stopGrace))
		}
		// Side by side: each may take its grace period, and a host may
		// run many.
		var (
			wg sync.WaitGroup
			mu sync.Mutex
		)
		for _, pid := range c.ControlPlanePids() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := procgroup.StopGroup(ctx, pid, stopGrace)
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	all := len(comps) == 0
	comps = c.named(comps)
	for i := len(comps) - 1; i >= 0; i-- {
		if p := c.proc(comps[i]); p != nil {
			errs = append(errs, p.Stop(ctx, stopGrace))
		}
	}
	if all {
		// The containers the real nodes ran outlive their kubelet and
		// containerd, as on a real machine; a stopped lab leaves none.
		errs = append(errs, c.cleanupRealNodes(ctx))
	}
	c.changed()
	return errors.Join(errs...)
}

// startGroups splits comps into what may start side by side: each real
// node's containerd, then its kubelet, in one group; every other component
// alone.
func startGroups(comps []Component) [][]Component {
	var groups [][]Component
	for _, comp := range comps {
		if i, kubelet := realNodeOf(comp); kubelet && len(groups) > 0 {
			if last := groups[len(groups)-1]; len(last) == 1 && last[0] == ContainerdOf(i) {
				groups[len(groups)-1] = append(last, comp)
				continue
			}
		}
		groups = append(groups, []Component{comp})
	}
	return groups
}

// Kill sends SIGKILL to the given components (all when none are named, and
// then the host's vcluster control planes too), as a crash or a lost machine
// would, and waits for them to die.
func (c *Cluster) Kill(comps ...Component) error {
	var errs []error
	if len(comps) == 0 && c.Role == RoleHost {
		// The agent first, as in Stop.
		if p := c.proc(Agent); p != nil {
			errs = append(errs, p.Kill())
		}
		for _, pid := range c.ControlPlanePids() {
			errs = append(errs, procgroup.SignalGroup(pid, syscall.SIGKILL))
		}
	}
	errs = append(errs, c.each(comps, (*procgroup.Process).Kill))
	if len(comps) == 0 {
		// A lost machine loses its containers too.
		errs = append(errs, c.cleanupRealNodes(context.Background()))
	}
	return errors.Join(errs...)
}

// Pause freezes the given components (all when none are named) with SIGSTOP:
// they hold their ports and connections but answer nothing, as a hung or
// partitioned machine would.
func (c *Cluster) Pause(comps ...Component) error {
	return c.each(comps, (*procgroup.Process).Pause)
}

// Resume continues paused components (all when none are named).
func (c *Cluster) Resume(comps ...Component) error {
	return c.each(comps, (*procgroup.Process).Resume)
}

func (c *Cluster) each(comps []Component, f func(*procgroup.Process) error) error {
	var errs []error
	for _, comp := range c.named(comps) {
		if p := c.proc(comp); p != nil {
			errs = append(errs, f(p))
		}
	}
	c.changed()
	return errors.Join(errs...)
}

// named returns comps, or every component when none are named.
func (c *Cluster) named(comps []Component) []Component {
	if len(comps) == 0 {
		return c.Components()
	}
	return comps
}

func (c *Cluster) proc(comp Component) *procgroup.Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[comp]
}

func (c *Cluster) changed() {
	if c.onChange != nil {
		c.onChange()
	}
}

// ensure starts comp unless it is running, resumes it if it is paused, then
// waits until it is healthy.
func (c *Cluster) ensure(ctx context.Context, comp Component) error {
	if p := c.proc(comp); p != nil {
		if exited, _ := p.Exited(); !exited {
			if !p.Paused() {
				return nil
			}
			if err := p.Resume(); err != nil {
				return err
			}
			return c.waitHealthy(ctx, comp, p)
		}
	}
	if comp == Agent && c.fleet.joinReady != nil {
		if err := c.fleet.joinReady(ctx); err != nil {
			return fmt.Errorf("%s: waiting for the hub: %w", c.describe(comp), err)
		}
	}
	for _, port := range c.ports.of(comp) {
		if err := portclaim.CheckFree(port); err != nil {
			return fmt.Errorf("%s: port 127.0.0.1:%d is already in use by another process: free it, or start the lab with another port base: %w",
				c.describe(comp), port, err)
		}
	}
	if err := c.prepareRealNode(comp); err != nil {
		return fmt.Errorf("%s: %w", c.describe(comp), err)
	}
	switch comp {
	case Postgres:
		if _, err := c.initPostgres(); err != nil {
			return err
		}
	case StoreEtcd:
		if _, err := c.initStoreEtcd(); err != nil {
			return err
		}
	}
	begin := time.Now()
	p, err := procgroup.Start(c.spec(comp))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs[comp] = p
	c.mu.Unlock()
	c.changed()

	if err := c.waitHealthy(ctx, comp, p); err != nil {
		return err
	}
	if comp == StoreEtcd {
		if err := c.enableStoreEtcdAuth(ctx); err != nil {
			return err
		}
	}
	if err := c.afterContainerd(ctx, comp); err != nil {
		return err
	}
	c.progress.printf("%s: %s healthy in %s", c.Name, comp, since(begin))
	return nil
}

// waitHealthy polls comp's health endpoint until it answers, the process
// exits, or the timeout passes. A failure carries the end of the process's
// own log, which usually says what is wrong.
func (c *Cluster) waitHealthy(ctx context.Context, comp Component, p *procgroup.Process) error {
	ctx, cancel := context.WithTimeout(ctx, componentTimeout)
	defer cancel()
	var last error
	for {
		if exited, err := p.Exited(); exited {
			return fmt.Errorf("%s exited while starting (%v); the end of %s:\n%s", c.describe(comp), err, c.paths.log(comp), p.LogTail(15))
		}
		if last = c.probe[comp](ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy after %s (%v); the end of %s:\n%s", c.describe(comp), componentTimeout, last, c.paths.log(comp), p.LogTail(15))
		case <-time.After(pollEvery):
		}
	}
}

// initClients builds the admin client and a health probe per component from
// the cluster's PKI, once.
func (c *Cluster) initClients() error {
	c.clientsOnce.Do(func() { c.clientsErr = c.buildClients() })
	return c.clientsErr
}

func (c *Cluster) buildClients() error {
	cfg, err := kubeconfig.RESTConfig(c.paths.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	admin, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	caPool, err := certPool(c.paths.pki("ca.crt"))
	if err != nil {
		return err
	}
	etcdPool, err := certPool(c.paths.pki("etcd-ca.crt"))
	if err != nil {
		return err
	}
	etcdClient, err := tls.LoadX509KeyPair(c.paths.pki("apiserver-etcd-client.crt"), c.paths.pki("apiserver-etcd-client.key"))
	if err != nil {
		return err
	}
	httpsClient := func(tc *tls.Config) *http.Client {
		return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	etcd := httpsClient(&tls.Config{RootCAs: etcdPool, Certificates: []tls.Certificate{etcdClient}})
	components := httpsClient(&tls.Config{RootCAs: caPool})
	plain := &http.Client{Timeout: 2 * time.Second}

	port := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	c.restConfig, c.kube = cfg, kube
	c.probe = map[Component]func(context.Context) error{
		Etcd:                  httpProbe(etcd, "https://"+port(c.ports.EtcdClient)+"/health"),
		KubeAPIServer:         httpProbe(admin, c.Endpoint()+"/readyz"),
		KubeControllerManager: httpProbe(components, "https://"+port(c.ports.ControllerManager)+"/healthz"),
		KubeScheduler:         httpProbe(components, "https://"+port(c.ports.Scheduler)+"/healthz"),
		Kwok:                  httpProbe(plain, "http://"+port(c.ports.Kwok)+"/healthz"),
		// Ready once the join endpoint listens.
		Hub: httpProbe(plain, "http://"+c.hubHostPort(c.ports.HubHealth)+"/readyz"),
		// Ready once it has every vcluster's route.
		Gateway: httpProbe(plain, "http://"+port(c.ports.GatewayHealth)+"/readyz"),
		// Ready once it has joined and reported the host's capacity.
		Agent: httpProbe(plain, "http://"+port(c.ports.AgentHealth)+"/readyz"),
		Postgres: func(ctx context.Context) error {
			return pgserver.Ping(ctx, c.PostgresEndpoint(), c.PostgresPassword())
		},
		StoreEtcd: func(ctx context.Context) error {
			creds, err := c.StoreEtcdCredentials()
			if err != nil {
				return err
			}
			return etcdserver.Health(ctx, c.StoreEtcdEndpoint(), creds)
		},
	}
	for _, comp := range c.Components() {
		if i, _ := realNodeOf(comp); i > 0 || comp == KubeProxy {
			c.probe[comp] = c.realNodeProbe(comp)
		}
	}
	return nil
}
