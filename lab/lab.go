package lab

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/lab/realnode"
)

//go:embed kwok.yaml
var kwokStages []byte

// Lab is a running fleet of lab clusters. Create it with New, then Start it;
// Stop ends every process it started.
type Lab struct {
	cfg      Config
	progress *progress
	mgmt     *Cluster
	hosts    []*Cluster

	lock       *os.File
	portClaims []*portclaim.Claim
	// machine is the lab's hold on this machine's real nodes, if it has
	// any.
	machine *realnode.Machine
	stateMu sync.Mutex
	// hostsMu guards hosts, which AddHost grows while the lab runs.
	hostsMu sync.RWMutex
	state   State
}

// New checks cfg and the binaries, and returns a lab ready to Start.
func New(cfg Config) (*Lab, error) {
	if cfg.BinDir == "" {
		cfg.BinDir = k8sbin.Dir()
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid lab configuration: %w", err)
	}
	if err := checkBinaries(cfg.BinDir, binaries); err != nil {
		return nil, err
	}
	if cfg.ContainerdBinDir == "" {
		cfg.ContainerdBinDir = k8sbin.ContainerdDir()
	}
	if cfg.ImagesDir == "" {
		cfg.ImagesDir = k8sbin.ImagesDir()
	}
	if cfg.hasRealNodes() {
		if err := checkRealNodes(cfg); err != nil {
			return nil, err
		}
	}
	if cfg.VfleetBin == "" {
		cfg.VfleetBin = FindVfleetBin()
	}
	vfleetBin, err := filepath.Abs(cfg.VfleetBin)
	if err != nil {
		return nil, err
	}
	cfg.VfleetBin = vfleetBin
	if err := checkBinaries(filepath.Dir(vfleetBin), []string{filepath.Base(vfleetBin)}); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir

	l := &Lab{cfg: cfg, progress: newProgress(cfg.Progress)}
	l.mgmt = l.newCluster(managementName, RoleManagement, HostConfig{}, 0)
	l.mgmt.region = cfg.Region
	for i, h := range cfg.Hosts {
		host := l.newCluster(h.Name, RoleHost, h, i+1)
		l.hosts = append(l.hosts, host)
		l.mgmt.storeRegions = append(l.mgmt.storeRegions, h.Region)
	}
	if cfg.Region != nil {
		// The stores serve every region of the federation.
		l.mgmt.storeRegions = slices.Clone(cfg.Region.Regions)
	}
	return l, nil
}

func (l *Lab) newCluster(name string, role Role, host HostConfig, index int) *Cluster {
	return &Cluster{
		Name:      name,
		Role:      role,
		Host:      host,
		index:     index,
		binDir:    l.cfg.BinDir,
		vfleetBin: l.cfg.VfleetBin,
		vfleetEnv: traceEnv(l.cfg.OTLPEndpoint),

		containerdBinDir: l.cfg.ContainerdBinDir,
		imagesDir:        l.cfg.ImagesDir,
		paths:            newPaths(filepath.Join(l.cfg.Dir, name)),
		progress:         l.progress,
		onChange:         l.saveState,
		procs:            map[Component]*procgroup.Process{},
	}
}

// Dir is the lab's directory.
func (l *Lab) Dir() string { return l.cfg.Dir }

// Management returns the management cluster.
func (l *Lab) Management() *Cluster { return l.mgmt }

// Hosts returns the host clusters in configuration order.
func (l *Lab) Hosts() []*Cluster {
	l.hostsMu.RLock()
	defer l.hostsMu.RUnlock()
	return slices.Clone(l.hosts)
}

// Host returns the host cluster called name, or nil.
func (l *Lab) Host(name string) *Cluster {
	for _, h := range l.Hosts() {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Clusters returns the management cluster followed by the hosts.
func (l *Lab) Clusters() []*Cluster { return append([]*Cluster{l.mgmt}, l.Hosts()...) }

// Pids returns the process id of every running lab process.
func (l *Lab) Pids() []int {
	var pids []int
	for _, c := range l.Clusters() {
		for _, pid := range c.Pids() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Start claims the lab directory, writes the PKI and configuration, starts
// every cluster in parallel and waits until all are ready. On failure it
// stops whatever it started before returning the error.
func (l *Lab) Start(ctx context.Context) (err error) {
	begin := time.Now()
	if err := l.claimDir(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			l.progress.printf("lab: start failed, stopping what was started")
			_ = l.stopClusters(context.WithoutCancel(ctx))
			l.setPhase(PhaseFailed, err.Error())
			l.release()
		}
	}()

	if err := l.assignPorts(); err != nil {
		return err
	}
	if l.cfg.hasRealNodes() {
		m, err := realnode.Lock(ctx, func() {
			l.progress.printf("lab: waiting for another lab on this machine to stop its real nodes")
		})
		if err != nil {
			return err
		}
		l.machine = m
	}
	l.progress.printf("lab: writing certificates and configuration to %s", l.cfg.Dir)
	for _, c := range l.Clusters() {
		if err := c.writePKI(); err != nil {
			return fmt.Errorf("%s: PKI: %w", c.Name, err)
		}
		if c.Role == RoleHost {
			if err := os.WriteFile(c.paths.kwokConfig, kwokStages, 0o644); err != nil {
				return err
			}
		}
	}
	l.setPhase(PhaseStarting, "")

	l.progress.printf("lab: starting the management cluster and %d host cluster(s)", len(l.hosts))
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range l.Clusters() {
		g.Go(func() error { return c.Start(gctx) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	l.setPhase(PhaseRunning, "")
	l.progress.printf("lab: ready in %s", since(begin))
	return nil
}

// Stop stops every process of the lab and releases its directory. The data
// stays; the directory can be removed afterwards.
func (l *Lab) Stop(ctx context.Context) error {
	if l.lock == nil {
		return nil
	}
	l.progress.printf("lab: stopping")
	err := l.stopClusters(ctx)
	l.setPhase(PhaseStopped, "")
	l.release()
	l.progress.printf("lab: stopped")
	return err
}

func (l *Lab) stopClusters(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, c := range l.Clusters() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Stop(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// claimDir takes the directory's lock, so that no second lab uses it, and
// clears what a lab that died without stopping left behind.
func (l *Lab) claimDir() error {
	dir := l.cfg.Dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create lab directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	old, err := checkDir(dir)
	if err != nil {
		lock.Close()
		return err
	}
	if old != nil {
		l.progress.printf("lab: clearing the %s lab left in %s by pid %d", old.Phase, dir, old.Pid)
		if err := clearLab(dir, old); err != nil {
			lock.Close()
			return err
		}
	}
	l.lock = lock
	l.state = State{Pid: os.Getpid(), Started: time.Now().UTC()}
	return nil
}

func (l *Lab) release() {
	l.machine.Unlock()
	l.machine = nil
	for _, c := range l.portClaims {
		c.Release()
	}
	l.portClaims = nil
	if l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
}

// assignPorts gives every cluster its ports, from PortBase or from a block
// the lab holds for as long as it runs.
func (l *Lab) assignPorts() error {
	claim, err := portclaim.Take(l.cfg.PortBase, l.cfg.portsNeeded())
	if err != nil {
		return err
	}
	l.portClaims = append(l.portClaims, claim)
	ports := claim.Ports
	next := func() int {
		p := ports[0]
		ports = ports[1:]
		return p
	}
	for _, c := range l.Clusters() {
		c.ports.assign(c.Components(), next)
	}
	for _, h := range l.hosts {
		h.fleet = l.fleetLinks(h.Name)
	}
	return nil
}

// fleetLinks tell host's agent where the hub is, once ports are known, and
// give it a token of its own to join with.
func (l *Lab) fleetLinks(host string) fleetLinks {
	return fleetLinks{
		hubURL:    l.HubURL(),
		hubCAFile: l.mgmt.paths.pki("ca.crt"),
		tokenFile: l.mgmt.paths.bootstrapToken(host),
		joinReady: func(ctx context.Context) error {
			if err := l.waitForHub(ctx); err != nil {
				return err
			}
			return l.mgmt.ensureBootstrapToken(ctx, host)
		},
	}
}

// AddHost starts one more host cluster, with its agent, in a running lab:
// a host joining the fleet. It returns once the host is ready and its
// agent has reported.
func (l *Lab) AddHost(ctx context.Context, h HostConfig) (*Cluster, error) {
	if l.lock == nil {
		return nil, errors.New("the lab is not running")
	}
	cfg := l.cfg
	cfg.Hosts = append(slices.Clone(l.cfg.Hosts), h)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("add host %s: %w", h.Name, err)
	}
	base := 0
	if cfg.PortBase != 0 {
		base = cfg.PortBase + l.cfg.portsNeeded()
	}
	claim, err := portclaim.Take(base, portCount(componentsOf(h)))
	if err != nil {
		return nil, err
	}
	l.portClaims = append(l.portClaims, claim)
	ports := claim.Ports

	l.hostsMu.Lock()
	c := l.newCluster(h.Name, RoleHost, h, len(l.hosts)+1)
	c.fleet = l.fleetLinks(h.Name)
	c.ports.assign(c.Components(), func() int { p := ports[0]; ports = ports[1:]; return p })
	l.hosts = append(l.hosts, c)
	l.cfg.Hosts = cfg.Hosts
	l.hostsMu.Unlock()

	if err := c.writePKI(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.paths.kwokConfig, kwokStages, 0o644); err != nil {
		return nil, err
	}
	l.progress.printf("lab: adding host %s", h.Name)
	if err := c.Start(ctx); err != nil {
		return c, err
	}
	l.saveState()
	return c, nil
}

// HubURL is the hub's join endpoint.
func (l *Lab) HubURL() string { return "https://" + l.mgmt.hubHostPort(l.mgmt.ports.HubJoin) }

// HubMetricsURL is the hub's /metrics, served over HTTPS to callers
// allowed to get it.
func (l *Lab) HubMetricsURL() string {
	return "https://" + l.mgmt.hubHostPort(l.mgmt.ports.HubMetrics) + "/metrics"
}

// waitForHub returns once the hub's join endpoint is up.
func (l *Lab) waitForHub(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, componentTimeout)
	defer cancel()
	for {
		if p := l.mgmt.proc(Hub); p != nil {
			if err := l.mgmt.probe[Hub](ctx); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the hub is not ready (see %s)", l.mgmt.paths.log(Hub))
		case <-time.After(pollEvery):
		}
	}
}

func (l *Lab) setPhase(phase Phase, message string) {
	l.stateMu.Lock()
	l.state.Phase, l.state.Message = phase, message
	l.stateMu.Unlock()
	l.saveState()
}

// saveState records the lab in its state file, which `vfleet lab status`
// and `vfleet lab down` read from other processes.
func (l *Lab) saveState() {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	if l.lock == nil {
		return
	}
	l.state.Clusters = l.state.Clusters[:0]
	for _, c := range l.Clusters() {
		l.state.Clusters = append(l.state.Clusters, ClusterState{
			Name:       c.Name,
			Role:       c.Role,
			Region:     c.Host.Region,
			Zone:       c.Host.Zone,
			Nodes:      len(c.NodeNames()) + len(c.RealNodeNames()),
			Endpoint:   c.Endpoint(),
			Kubeconfig: c.Kubeconfig(),
			Ports:      c.ports,
			Pids:       c.Pids(),
		})
	}
	if err := writeState(l.cfg.Dir, &l.state); err != nil {
		l.progress.printf("lab: cannot record state: %v", err)
	}
}

// progress prints timestamped progress lines.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, start: time.Now()}
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

const lockFile = "lab.lock"
