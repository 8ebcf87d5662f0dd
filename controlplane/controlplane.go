package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/procgroup"
)

// Config describes one vcluster's control plane.
type Config struct {
	// Name identifies the vcluster in certificates and messages.
	Name string
	// DataDir keeps its PKI, logs and, for Embedded, its database.
	DataDir string
	// BinDir holds kube-apiserver and kube-controller-manager of the
	// vcluster's Kubernetes version.
	BinDir string
	// Backend is kine's endpoint: EmbeddedBackend(DataDir), or a
	// database of an External store.
	Backend string
	// Port is the apiserver's port on 127.0.0.1.
	Port int
	// SANs are further names and addresses the apiserver is reached at.
	SANs []string
	// Log receives one line per event worth telling (start, crash, ready).
	Log io.Writer
}

// ControlPlane runs a vcluster's control plane.
type ControlPlane struct {
	cfg      Config
	ready    chan struct{}
	restarts atomic.Int32

	mu    sync.Mutex
	procs map[string]*procgroup.Process
}

// New checks cfg and the binaries.
func New(cfg Config) (*ControlPlane, error) {
	var errs []error
	if cfg.Name == "" || cfg.DataDir == "" || cfg.Backend == "" {
		errs = append(errs, errors.New("name, data directory and backend are required"))
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is not a port", cfg.Port))
	}
	for _, bin := range []string{"kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, bin)); err != nil {
			errs = append(errs, fmt.Errorf("%s not found in %s: this host has no binaries of that Kubernetes version", bin, cfg.BinDir))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	return &ControlPlane{cfg: cfg, ready: make(chan struct{}), procs: map[string]*procgroup.Process{}}, nil
}

// Endpoint is the apiserver's URL.
func (cp *ControlPlane) Endpoint() string { return "https://127.0.0.1:" + strconv.Itoa(cp.cfg.Port) }

// Kubeconfig is the path of the admin kubeconfig, written once the
// apiserver first answers ready.
func (cp *ControlPlane) Kubeconfig() string { return filepath.Join(cp.cfg.DataDir, kubeconfigAdmin) }

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
// stops every process it started.
func (cp *ControlPlane) Run(ctx context.Context) error {
	for _, d := range []string{cp.cfg.DataDir, filepath.Join(cp.cfg.DataDir, "logs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := cp.ensurePKI(); err != nil {
		return fmt.Errorf("PKI: %w", err)
	}
	// The store outlives the processes that use it, and Run outlives the
	// store.
	storeCtx, stopStore := context.WithCancel(context.WithoutCancel(ctx))
	var storeDone sync.WaitGroup
	defer func() {
		stopStore()
		storeDone.Wait()
	}()
	etcd, err := startStore(storeCtx, &storeDone, cp.cfg.DataDir, cp.cfg.Backend)
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	for _, name := range []string{"kube-apiserver", "kube-controller-manager"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cp.supervise(ctx, name, func() procgroup.Spec { return cp.spec(name, etcd) })
		}()
	}
	err = cp.waitReady(ctx)
	if err == nil {
		fmt.Fprintf(cp.cfg.Log, "control plane %s ready at %s\n", cp.cfg.Name, cp.Endpoint())
		close(cp.ready)
		<-ctx.Done()
	}
	wg.Wait()
	return err
}

// supervise keeps one process running: a crash is logged with the end of
// its output and followed by a restart, after a backoff that doubles from
// one second to thirty and starts over once a run lasted a minute.
func (cp *ControlPlane) supervise(ctx context.Context, name string, spec func() procgroup.Spec) {
	backoff := time.Second
	for {
		started := time.Now()
		p, err := procgroup.Start(spec())
		if err == nil {
			cp.mu.Lock()
			cp.procs[name] = p
			cp.mu.Unlock()
			select {
			case <-ctx.Done():
				_ = p.Stop(context.WithoutCancel(ctx), 15*time.Second)
				return
			case <-p.Done():
				_, exitErr := p.Exited()
				fmt.Fprintf(cp.cfg.Log, "%s of %s exited (%v); the end of its log:\n%s\n", name, cp.cfg.Name, exitErr, p.LogTail(10))
			}
		} else {
			fmt.Fprintf(cp.cfg.Log, "%s of %s did not start: %v\n", name, cp.cfg.Name, err)
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
	}
}

func (cp *ControlPlane) spec(name, etcd string) procgroup.Spec {
	p := cp.pki
	var args []string
	switch name {
	case "kube-apiserver":
		args = []string{
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(cp.cfg.Port),
			"--etcd-servers=" + etcd,
			"--tls-cert-file=" + p("apiserver.crt"),
			"--tls-private-key-file=" + p("apiserver.key"),
			"--client-ca-file=" + p("ca.crt"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + p("sa.pub"),
			"--service-account-signing-key-file=" + p("sa.key"),
			"--service-cluster-ip-range=10.96.0.0/16",
			"--authorization-mode=RBAC",
			"--requestheader-client-ca-file=" + p("front-proxy-ca.crt"),
			"--requestheader-allowed-names=" + frontProxyUser,
			"--requestheader-username-headers=X-Remote-User",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--proxy-client-cert-file=" + p("front-proxy-client.crt"),
			"--proxy-client-key-file=" + p("front-proxy-client.key"),
			"--endpoint-reconciler-type=none",
			"--profiling=false",
		}
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
	}
	return procgroup.Spec{
		Name:    cp.cfg.Name + "/" + name,
		Path:    filepath.Join(cp.cfg.BinDir, name),
		Args:    args,
		LogFile: filepath.Join(cp.cfg.DataDir, "logs", name+".log"),
	}
}

// waitReady polls /readyz until it answers, then writes the admin
// kubeconfig where users and the agent find it.
func (cp *ControlPlane) waitReady(ctx context.Context) error {
	cfg, err := kubeconfig.RESTConfig(cp.pki(kubeconfigAdmin))
	if err != nil {
		return err
	}
	for {
		if err := readyz(ctx, cfg); err == nil {
			data, err := os.ReadFile(cp.pki(kubeconfigAdmin))
			if err != nil {
				return err
			}
			return os.WriteFile(cp.Kubeconfig(), data, 0o600)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
