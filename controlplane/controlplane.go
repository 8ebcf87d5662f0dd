package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controlplane/launch"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/syncer"
)

// Config describes one vcluster's control plane.
type Config struct {
	// Name identifies the vcluster in certificates and messages.
	Name string
	// DataDir keeps its PKI, logs and, for Embedded, its database.
	DataDir string
	// IdentityDir holds the vcluster's identity (package identity): its
	// CAs, service-account key and admin credentials, which every epoch
	// on every host shares. Empty makes one in DataDir on the first start,
	// which a move to another host does not keep.
	IdentityDir string
	// BinDir holds kube-apiserver and kube-controller-manager of the
	// vcluster's Kubernetes version.
	BinDir string
	// Backend is the store: kine's endpoint, EmbeddedBackend(DataDir) or a
	// database of an External store, or an EtcdBackend.
	Backend string
	// Address is the IP the apiserver listens and is reached at; default
	// 127.0.0.1.
	Address string
	// Port is the apiserver's port on Address.
	Port int
	// SANs are further names and addresses the apiserver is reached at.
	SANs []string
	// Log receives one line per event worth telling (start, crash, ready).
	Log io.Writer
	// MaxStartFailures is how often the apiserver may exit before it was
	// ever ready until the control plane gives up and reports why: a bad
	// flag or a taken port does not heal by retrying. Default 3.
	MaxStartFailures int
	// Lifeline, when set, is a lock file its runner (the agent) holds for
	// as long as it runs. A control plane outlives a restart of the agent,
	// which adopts it; one whose agent is gone for OrphanGrace stops.
	Lifeline    string
	OrphanGrace time.Duration
	// ServiceCIDR is the vcluster's Service range; it should be the
	// host's, so that the ClusterIPs the host gives can be the vcluster's.
	// Default launch.DefaultServiceCIDR.
	ServiceCIDR string
	// Sync, when set, runs the syncer once the apiserver is ready.
	Sync *SyncConfig
	// Traceparent is the trace of the create or move this start is part
	// of; the control plane records its start there (trace.go).
	Traceparent string
}

// SyncConfig is what the control plane's syncer needs beyond the control
// plane itself.
type SyncConfig struct {
	// HostKubeconfig reaches the host with the vcluster's rights there;
	// empty means in-cluster (the kubernetes runtime).
	HostKubeconfig string
	HostNamespace  string
	VCluster       syncer.Identity
	Isolation      fleetv1.IsolationPolicy
	// SyncAllConfigMaps and SyncAllSecrets copy all, not only those pods
	// use.
	SyncAllConfigMaps, SyncAllSecrets bool
	// DNS is the CoreDNS binary that serves the tenant's DNS; empty runs
	// none, and pods keep the host's resolver. DNSUpstreams are asked the
	// names outside the vcluster the isolation policy lets pods resolve;
	// empty means those of /etc/resolv.conf.
	DNS          string
	DNSUpstreams []string
	// HostsFileImage is the vfleet image a pod's /etc/hosts is written
	// with in the vcluster's names; empty leaves the host kubelet's.
	HostsFileImage string
}

// ControlPlane runs a vcluster's control plane.
type ControlPlane struct {
	cfg      Config
	ready    chan struct{}
	restarts atomic.Int32
	// failed receives the StartError once the apiserver gave up.
	failed chan error

	// resync restarts the syncer (its credentials were renewed);
	// kubeconfigChanged tells that the admin kubeconfig was.
	resync, kubeconfigChanged chan struct{}

	mu    sync.Mutex
	procs map[string]*procgroup.Process
	// planned marks the processes restart stopped, to start again at once.
	planned map[string]bool
	status  Status
}

// New checks cfg and the binaries.
func New(cfg Config) (*ControlPlane, error) {
	var errs []error
	if cfg.Name == "" || cfg.DataDir == "" || cfg.Backend == "" {
		errs = append(errs, errors.New("name, data directory and backend are required"))
	}
	if cfg.Address != "" && net.ParseIP(cfg.Address) == nil {
		errs = append(errs, fmt.Errorf("address %q is not an IP address", cfg.Address))
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is not a port", cfg.Port))
	}
	for _, bin := range []string{"kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, bin)); err != nil {
			errs = append(errs, fmt.Errorf("%s not found in %s: this host has no binaries of that Kubernetes version", bin, cfg.BinDir))
		}
	}
	if sc := cfg.Sync; sc != nil && sc.DNS != "" {
		if _, err := os.Stat(sc.DNS); err != nil {
			errs = append(errs, fmt.Errorf("the DNS server: %w", err))
		}
		errs = append(errs, launch.CheckDNSUpstreams(sc.DNSUpstreams))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1"
	}
	if cfg.ServiceCIDR == "" {
		cfg.ServiceCIDR = launch.DefaultServiceCIDR
	}
	if cfg.MaxStartFailures <= 0 {
		cfg.MaxStartFailures = 3
	}
	if cfg.OrphanGrace <= 0 {
		cfg.OrphanGrace = time.Minute
	}
	return &ControlPlane{
		cfg: cfg, ready: make(chan struct{}), failed: make(chan error, 1),
		resync: make(chan struct{}, 1), kubeconfigChanged: make(chan struct{}, 1),
		procs: map[string]*procgroup.Process{}, planned: map[string]bool{},
	}, nil
}

// Endpoint is the apiserver's URL.
func (cp *ControlPlane) Endpoint() string {
	return "https://" + net.JoinHostPort(cp.cfg.Address, strconv.Itoa(cp.cfg.Port))
}

// Kubeconfig is the path of the admin kubeconfig, written once the
// apiserver first answers ready.
func (cp *ControlPlane) Kubeconfig() string { return launch.AdminKubeconfig(cp.cfg.DataDir) }

// Ready is closed once the apiserver answers /readyz.
func (cp *ControlPlane) Ready() <-chan struct{} { return cp.ready }

// Restarts counts crashed processes that were started again.
func (cp *ControlPlane) Restarts() int32 { return cp.restarts.Load() }

// Pid returns the pid of a running process ("kube-apiserver", ...), or 0.
func (cp *ControlPlane) Pid(name string) int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if p := cp.procs[name]; p != nil {
		if exited, _ := p.Exited(); !exited {
			return p.Pid()
		}
	}
	return 0
}

// Run starts the control plane and keeps it running until ctx ends, then
// stops every process it started. It returns a *StartError when the
// apiserver failed MaxStartFailures times without ever being ready.
func (cp *ControlPlane) Run(ctx context.Context) (err error) {
	for _, d := range []string{cp.cfg.DataDir, filepath.Join(cp.cfg.DataDir, "logs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	cp.setStatus(func(s *Status) { *s = Status{Pid: os.Getpid(), Phase: PhaseStarting, Endpoint: cp.Endpoint()} })
	defer func() {
		cp.setStatus(func(s *Status) {
			s.Phase = PhaseStopped
			var start *StartError
			if errors.As(err, &start) {
				s.Phase = PhaseFailed
				s.Message = start.Error()
			} else if err != nil {
				s.Phase, s.Message = PhaseFailed, err.Error()
			}
		})
	}()
	if err := cp.ensurePKI(); err != nil {
		return fmt.Errorf("PKI: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if cp.cfg.Lifeline != "" {
		go cp.watchLifeline(ctx, cancel)
	}
	// The store outlives the processes that use it, and Run outlives the
	// store.
	storeCtx, stopStore := context.WithCancel(context.WithoutCancel(ctx))
	var storeDone sync.WaitGroup
	defer func() {
		stopStore()
		storeDone.Wait()
	}()
	storeStart := time.Now()
	etcd, err := StartStore(storeCtx, &storeDone, cp.cfg.DataDir, cp.cfg.Backend)
	cp.recordSpan(ctx, spanStore, storeStart, err)
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	run := func(name string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cp.supervise(ctx, name, func() procgroup.Spec { return cp.spec(name, etcd) })
		}()
	}
	apiserverStart := time.Now()
	run("kube-apiserver")
	err = cp.waitReady(ctx)
	cp.recordSpan(ctx, spanAPIServer, apiserverStart, err)
	if err == nil {
		fmt.Fprintf(cp.cfg.Log, "control plane %s ready at %s\n", cp.cfg.Name, cp.Endpoint())
		cp.setStatus(func(s *Status) { s.Phase, s.Message = PhaseRunning, "" })
		close(cp.ready)
		// The controller-manager can do nothing before the apiserver
		// answers; started together, they would share the CPU the
		// apiserver needs to get there.
		run("kube-controller-manager")
		cp.runBesideAPIServer(ctx, &wg)
		<-ctx.Done()
	}
	cancel(err)
	wg.Wait()
	// The lifeline's reason, not the bare "context canceled" it causes.
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && (err == nil || errors.Is(err, context.Canceled)) {
		err = cause
	}
	return err
}

// runBesideAPIServer starts, in wg, what runs once the apiserver is
// ready: certificate renewal, the metrics file, and, for a vcluster that
// syncs, the kubelet proxy, its DNS and the syncer.
func (cp *ControlPlane) runBesideAPIServer(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(2)
	go func() {
		defer wg.Done()
		cp.keepCertificates(ctx)
	}()
	go func() {
		defer wg.Done()
		cp.exportMetrics(ctx)
	}()
	if cp.cfg.Sync == nil {
		return
	}
	// The kubelet proxy listens first: the syncer shows the vcluster its
	// nodes at its port.
	l, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		fmt.Fprintf(cp.cfg.Log, "control plane %s: no kubelet proxy, so no logs or exec: %v\n", cp.cfg.Name, lerr)
	}
	dns := cp.startDNS(ctx, wg)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if l != nil {
			cp.runKubeletProxy(ctx, l)
		}
	}()
	go func() {
		defer wg.Done()
		cp.runSyncer(ctx, l, dns)
	}()
}

// setStatus changes the status and writes it out.
func (cp *ControlPlane) setStatus(change func(*Status)) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	change(&cp.status)
	cp.status.Restarts = cp.restarts.Load()
	if err := writeStatus(cp.cfg.DataDir, cp.status); err != nil {
		fmt.Fprintf(cp.cfg.Log, "control plane %s: write status: %v\n", cp.cfg.Name, err)
	}
}

func (cp *ControlPlane) isReady() bool {
	select {
	case <-cp.ready:
		return true
	default:
		return false
	}
}

// supervise keeps one process running: a crash is logged with the end of
// its output and followed by a restart, after a backoff that doubles from
// one second to thirty and starts over once a run lasted a minute. An
// apiserver that keeps failing before it was ever ready is given up on.
func (cp *ControlPlane) supervise(ctx context.Context, name string, spec func() procgroup.Spec) {
	backoff := time.Second
	failures := 0
	for {
		started := time.Now()
		p, err := procgroup.Start(spec())
		reason := ""
		if err == nil {
			cp.mu.Lock()
			cp.procs[name] = p
			cp.mu.Unlock()
			select {
			case <-ctx.Done():
				cp.stopProcess(ctx, name, p)
				return
			case <-p.Done():
				if cp.takePlanned(name) {
					fmt.Fprintf(cp.cfg.Log, "%s of %s restarted to take up renewed certificates\n", name, cp.cfg.Name)
					continue
				}
				_, exitErr := p.Exited()
				tail := p.LogTail(10)
				reason = errorLine(tail)
				fmt.Fprintf(cp.cfg.Log, "%s of %s exited (%v); the end of its log:\n%s\n", name, cp.cfg.Name, exitErr, tail)
			}
		} else {
			reason = err.Error()
			fmt.Fprintf(cp.cfg.Log, "%s of %s did not start: %v\n", name, cp.cfg.Name, err)
		}
		if name == "kube-apiserver" && !cp.isReady() {
			failures++
			if failures >= cp.cfg.MaxStartFailures {
				cp.failed <- &StartError{Attempts: failures, Reason: reason}
				return
			}
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
		cp.restarts.Add(1)
		cp.setStatus(func(s *Status) { s.Message = fmt.Sprintf("%s restarted: %s", name, reason) })
	}
}

// stopGrace is how long a process of the control plane has to exit after
// SIGTERM before it is killed. It must stay under the agent's own grace
// for the whole control plane.
const stopGrace = 15 * time.Second

// stopProcess stops one process, saying so when it had to be killed: the
// stop then took the whole grace, and every migration waits for it.
func (cp *ControlPlane) stopProcess(ctx context.Context, name string, p *procgroup.Process) {
	start := time.Now()
	_ = p.Stop(context.WithoutCancel(ctx), stopGrace)
	if took := time.Since(start); took >= stopGrace {
		fmt.Fprintf(cp.cfg.Log, "%s of %s did not exit within %s of SIGTERM and was killed\n", name, cp.cfg.Name, stopGrace)
	}
}

// BareAPIServer is how a kube-apiserver is run by hand over this control
// plane's PKI and the store at etcd, with the apiserver's defaults instead
// of vfleet's footprint settings: the baseline vfleet is measured against.
// The PKI is written first if it is missing.
func (cp *ControlPlane) BareAPIServer(etcd StoreEndpoint) (procgroup.Spec, error) {
	if err := os.MkdirAll(filepath.Join(cp.cfg.DataDir, "logs"), 0o700); err != nil {
		return procgroup.Spec{}, err
	}
	if err := cp.ensurePKI(); err != nil {
		return procgroup.Spec{}, err
	}
	s := cp.spec("kube-apiserver", etcd)
	s.Args = s.Args[:len(s.Args)-len(apiserverFootprint)]
	s.Env = nil
	return s, nil
}

// AdminKubeconfig is the admin kubeconfig in the control plane's PKI,
// there from the start (Kubeconfig appears once it is ready).
func (cp *ControlPlane) AdminKubeconfig() string { return cp.pki(kubeconfigAdmin) }

func (cp *ControlPlane) spec(name string, etcd StoreEndpoint) procgroup.Spec {
	p := cp.pki
	var args []string
	switch name {
	case "kube-apiserver":
		args = []string{
			"--bind-address=" + cp.cfg.Address,
			"--advertise-address=" + cp.cfg.Address,
			"--secure-port=" + strconv.Itoa(cp.cfg.Port),
			"--etcd-servers=" + etcd.Servers,
			"--tls-cert-file=" + p("apiserver.crt"),
			"--tls-private-key-file=" + p("apiserver.key"),
			"--client-ca-file=" + p("ca.crt"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + p("sa.pub"),
			"--service-account-signing-key-file=" + p("sa.key"),
			"--service-cluster-ip-range=" + cp.cfg.ServiceCIDR,
			"--authorization-mode=RBAC",
			"--requestheader-client-ca-file=" + p("front-proxy-ca.crt"),
			"--requestheader-allowed-names=" + frontProxyUser,
			"--requestheader-username-headers=X-Remote-User",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--proxy-client-cert-file=" + p("front-proxy-client.crt"),
			"--proxy-client-key-file=" + p("front-proxy-client.key"),
			"--endpoint-reconciler-type=none",
			// Its nodes' kubelet API is the syncer's proxy, on loopback
			// (the nodes say so by an address type of vfleet's, beside the
			// host nodes' own), serving with a certificate of the
			// vcluster's CA.
			"--kubelet-client-certificate=" + p("apiserver-kubelet-client.crt"),
			"--kubelet-client-key=" + p("apiserver-kubelet-client.key"),
			"--kubelet-certificate-authority=" + p("ca.crt"),
			"--kubelet-preferred-address-types=" + string(syncer.KubeletAddressType),
			// The vcluster's API accepts privileged pods so that its syncer,
			// which enforces the isolation policy, can keep them off the
			// host with an Event saying why, rather than the API refusing
			// them with a message that names no policy.
			"--allow-privileged=true",
			"--profiling=false",
			// A stop is part of every migration's downtime. By default the
			// apiserver waits up to --request-timeout (a minute) for its
			// connections to go idle, and a connection carrying a watch
			// never does, so any client watching held the stop until the
			// process was killed. With this it drains the requests in
			// flight, answering new ones with a Retry-After, then gives
			// open connections two seconds: watches are cut, and clients
			// start them again, as they do on any apiserver's restart.
			"--shutdown-send-retry-after=true",
		}
		args = append(append(args, etcd.Args...), apiserverFootprint...)
	case "kube-controller-manager":
		kc := p(kubeconfigKCM)
		args = []string{
			"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
			"--bind-address=127.0.0.1",
			// No serving port: nothing probes it, and one port less to find.
			"--secure-port=0",
			"--leader-elect=false",
			"--use-service-account-credentials",
			"--service-account-private-key-file=" + p("sa.key"),
			"--root-ca-file=" + p("ca.crt"),
			"--cluster-name=" + cp.cfg.Name,
			"--profiling=false",
		}
		args = append(args, controllerManagerFootprint...)
	}
	return procgroup.Spec{
		Name:    cp.cfg.Name + "/" + name,
		Path:    filepath.Join(cp.cfg.BinDir, name),
		Args:    args,
		LogFile: filepath.Join(cp.cfg.DataDir, "logs", name+".log"),
		Env:     footprintEnv[name],
	}
}
