// Package process runs each control plane as a `vfleet controlplane` process
// on the host machine: the lab's runtime, and that of bare-metal hosts.
//
// A control plane outlives a restart of the agent that started it. Each has
// a directory under Root holding the control plane's own data (PKI, logs,
// SQLite) and the agent's record of it: its port and the pid it runs as.
// An agent that starts again finds the record, sees the process alive and
// adopts it rather than starting a second copy on the same data.
package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/vfleet/vfleet/agent/runtime"
	"github.com/vfleet/vfleet/agent/runtime/process/record"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controlplane"
	"github.com/vfleet/vfleet/controlplane/launch"
	"github.com/vfleet/vfleet/identity"
	"github.com/vfleet/vfleet/internal/procgroup"
)

// Options configure the process runtime.
type Options struct {
	// Root holds one directory per control plane.
	Root string
	// Vfleet is the vfleet executable to run `vfleet controlplane` from.
	Vfleet string
	// BinRoot has one directory of Kubernetes binaries per version.
	BinRoot string
	// Address is the IP control planes listen and are reached at.
	Address string
	// FirstPort..LastPort is the range apiserver ports are given from.
	FirstPort, LastPort int
	// Lifeline is the lock file the agent holds; see controlplane.Config.
	Lifeline    string
	OrphanGrace time.Duration
	// DNS is the CoreDNS binary control planes serve their tenant's DNS
	// with; empty runs none. DNSUpstreams are asked names outside the
	// vcluster (empty: those of /etc/resolv.conf).
	DNS          string
	DNSUpstreams []string
	// HostsFileImage writes tenant pods' /etc/hosts; see launch.Syncer.
	HostsFileImage string
	// StopGrace is how long a control plane may take to stop cleanly.
	StopGrace time.Duration
	// MaxStarting is how many control planes may start at once (see
	// startGate); 0 is no bound.
	MaxStarting int
	Log         logr.Logger
}

// Runtime is the process runtime.
type Runtime struct {
	opts    Options
	changed chan string

	mu    sync.Mutex // guards locks, children and port allocation
	locks map[string]*sync.Mutex
	// children are the control planes this runtime started, by name,
	// until they exit.
	children map[string]*procgroup.Process
	seenMu   sync.Mutex
	seen     map[string]time.Time // status file times already told
	gate     *startGate
}

var _ runtime.Runtime = (*Runtime)(nil)

// New checks opts and prepares Root.
func New(opts Options) (*Runtime, error) {
	var errs []error
	if opts.Root == "" || opts.Vfleet == "" || opts.BinRoot == "" {
		errs = append(errs, errors.New("root, vfleet binary and bin root are required"))
	}
	if net.ParseIP(opts.Address) == nil {
		errs = append(errs, fmt.Errorf("control-plane address %q is not an IP address", opts.Address))
	}
	if opts.FirstPort <= 0 || opts.LastPort > 65535 || opts.FirstPort > opts.LastPort {
		errs = append(errs, fmt.Errorf("control-plane ports %d-%d are not a port range", opts.FirstPort, opts.LastPort))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 20 * time.Second
	}
	if err := os.MkdirAll(opts.Root, 0o700); err != nil {
		return nil, err
	}
	r := &Runtime{opts: opts, changed: make(chan string, 64), locks: map[string]*sync.Mutex{}, children: map[string]*procgroup.Process{}, seen: map[string]time.Time{}}
	// Told from under another control plane's lock: never blocks it.
	r.gate = newStartGate(opts.MaxStarting, func(name string) { go func() { r.changed <- name }() })
	return r, nil
}

func (r *Runtime) dir(name string) string { return filepath.Join(r.opts.Root, name) }

// lock serialises work on one control plane.
func (r *Runtime) lock(name string) func() {
	r.mu.Lock()
	l := r.locks[name]
	if l == nil {
		l = &sync.Mutex{}
		r.locks[name] = l
	}
	r.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Ensure implements runtime.Runtime.
func (r *Runtime) Ensure(ctx context.Context, inst runtime.Instance) (runtime.State, error) {
	defer r.lock(inst.Name)()
	dir := r.dir(inst.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return runtime.State{}, err
	}
	rec, err := record.Read(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return runtime.State{}, fmt.Errorf("control plane %s: %w", inst.Name, err)
	}
	if rec.Port == 0 {
		if rec.Port, err = r.allocatePort(dir); err != nil {
			return runtime.State{}, err
		}
		if err := record.Write(dir, rec); err != nil {
			return runtime.State{}, err
		}
	}
	endpoint := "https://" + net.JoinHostPort(r.opts.Address, strconv.Itoa(rec.Port))
	if err := writeHostCredentials(dir, inst.Sync); err != nil {
		return runtime.State{}, fmt.Errorf("control plane %s: host credentials: %w", inst.Name, err)
	}
	cfg := r.launchConfig(inst, dir, rec.Port)
	want := record.Launch{Version: cfg.KubernetesVersion, Epoch: inst.Spec.Epoch, BackendHash: record.HashBackend(inst.Backend),
		Options: syncerOptions(cfg)}
	if inst.Identity != nil {
		// Kept beside the data, readable by the agent's user only; the
		// control plane installs it into its PKI at each start.
		if err := identity.Write(cfg.IdentityDir, inst.Identity); err != nil {
			return runtime.State{}, fmt.Errorf("control plane %s: identity: %w", inst.Name, err)
		}
		want.IdentityHash = identity.Hash(inst.Identity)
	}
	alive := r.alive(inst.Name, rec.Pid, dir)

	if inst.Spec.Sleeping {
		r.gate.done(inst.Name)
		if alive {
			if err := r.stop(ctx, inst.Name, rec.Pid, "to sleep"); err != nil {
				return runtime.State{}, err
			}
		}
		if rec.Pid != 0 {
			// Stopped on purpose: the wake that starts it again is no
			// restart of a process that died.
			rec.Pid = 0
			if err := record.Write(dir, rec); err != nil {
				return runtime.State{}, err
			}
		}
		return runtime.State{Phase: fleetv1.ControlPlaneSleeping, Endpoint: endpoint, Restarts: rec.Restarts,
			Message: "sleeping: its state is kept and it starts again when woken"}, nil
	}
	if alive && rec.Launch == want {
		s := r.observe(dir, rec, endpoint)
		if s.Phase == fleetv1.ControlPlaneStarting {
			// One an agent before this one started counts too.
			r.gate.adopt(inst.Name, time.Now())
		} else {
			r.gate.done(inst.Name)
		}
		return s, nil
	}
	return r.startAgain(ctx, inst, cfg, rec, want, alive, endpoint)
}

// startAgain starts inst, whose process is gone or runs an older
// configuration, once the start gate lets it and unless it gave up
// starting too recently.
func (r *Runtime) startAgain(ctx context.Context, inst runtime.Instance, cfg launch.Config, rec record.Record, want record.Launch, alive bool, endpoint string) (runtime.State, error) {
	var gaveUp *controlplane.Status
	if !alive && rec.Pid != 0 {
		gaveUp = gaveUpWith(cfg.DataDir, rec, inst.Generation, want)
	}
	if gaveUp != nil {
		// It gave up, saying why. A new spec gets a new attempt at once;
		// the same one only after a while, as the cause may pass (its
		// store slow to answer) or may not (a bad flag).
		delay := RetryDelay(rec.GaveUp)
		if wait := time.Until(gaveUp.Updated.Add(delay)); wait > 0 {
			r.gate.done(inst.Name)
			return runtime.State{Phase: fleetv1.ControlPlaneFailed, Endpoint: endpoint, Restarts: rec.Restarts + gaveUp.Restarts, RetryAfter: wait,
				Message: fmt.Sprintf("%s (trying again %s after it gave up)", gaveUp.Message, delay)}, nil
		}
	}
	// Asked before anything is stopped: a control plane that runs an
	// older configuration keeps serving while it waits its turn.
	if ok, why := r.gate.admit(inst.Name, time.Now()); !ok {
		// Asked again meanwhile: it keeps its place, and its message
		// stays current.
		return runtime.State{Phase: fleetv1.ControlPlanePending, Endpoint: endpoint, Restarts: rec.Restarts, Message: why, RetryAfter: startPoll}, nil
	}
	switch {
	case alive:
		// A new epoch, version or store: the old process must be gone
		// before the new one opens the same data.
		r.opts.Log.Info("Restarting control plane for a new configuration", "controlPlane", inst.Name, "from", rec.Launch.Version, "to", want.Version, "epoch", want.Epoch)
		if err := r.stop(ctx, inst.Name, rec.Pid, "for a new configuration"); err != nil {
			r.gate.done(inst.Name)
			return runtime.State{}, err
		}
	case gaveUp != nil:
		rec.GaveUp++
		r.opts.Log.Info("Control plane gave up starting; trying again", "controlPlane", inst.Name, "times", rec.GaveUp, "reason", gaveUp.Message)
	case rec.Pid != 0 && rec.Launch == want:
		rec.Restarts++
		r.opts.Log.Info("Control plane process is gone; starting it again", "controlPlane", inst.Name, "pid", rec.Pid, "restarts", rec.Restarts)
	}
	if err := r.start(inst, cfg, &rec, want); err != nil {
		r.gate.done(inst.Name)
		return runtime.State{Phase: fleetv1.ControlPlaneFailed, Endpoint: endpoint, Restarts: rec.Restarts, Message: err.Error()}, nil
	}
	return runtime.State{Phase: fleetv1.ControlPlaneStarting, Endpoint: endpoint, Restarts: rec.Restarts}, nil
}

// gaveUpWith returns the status of the control plane in dir if its last
// process, of rec, gave up starting with the same spec and launch.
func gaveUpWith(dir string, rec record.Record, generation int64, want record.Launch) *controlplane.Status {
	st, err := controlplane.ReadStatus(dir)
	if err == nil && st.Pid == rec.Pid && st.Phase == controlplane.PhaseFailed && rec.Generation == generation && rec.Launch == want {
		return &st
	}
	return nil
}

// alive reports whether pid, recorded for the control plane name in dir,
// runs: a child this runtime started and has not seen exit, or else a
// control plane of dir by its command line (one an earlier agent started).
// A child is known without its command line, which reads empty for a
// moment after its exec on a loaded machine: taken for gone, it was
// started again, several times, each copy on the same port and data.
func (r *Runtime) alive(name string, pid int, dir string) bool {
	r.mu.Lock()
	p := r.children[name]
	r.mu.Unlock()
	if p != nil && p.Pid() == pid {
		if exited, _ := p.Exited(); !exited {
			return true
		}
	}
	return record.IsControlPlane(pid, dir)
}

// stop stops a control plane's process group, SIGTERM then SIGKILL after
// StopGrace, and says how long it took: a clean stop is part of every
// migration's downtime.
func (r *Runtime) stop(ctx context.Context, name string, pid int, why string) error {
	start := time.Now()
	r.opts.Log.Info("Stopping control plane", "controlPlane", name, "pid", pid, "why", why, "grace", r.opts.StopGrace)
	err := procgroup.StopGroup(ctx, pid, r.opts.StopGrace)
	r.opts.Log.Info("Stopped control plane", "controlPlane", name, "pid", pid, "took", time.Since(start).Round(time.Millisecond), "killedAtGrace", time.Since(start) >= r.opts.StopGrace)
	return err
}

// RetryDelay is how long a control plane that gave up starting waits
// before the next attempt, after it gave up gaveUp times before: half a
// minute, doubling to five, as a kubelet backs off a crashing container.
func RetryDelay(gaveUp int32) time.Duration {
	// 30s<<3 is the last step under five minutes; the cap also keeps the
	// shift from overflowing.
	if gaveUp >= 4 {
		return 5 * time.Minute
	}
	return 30 * time.Second << gaveUp
}

// start runs `vfleet controlplane` for inst, detached so that it outlives
// the agent, and records its pid before anything else can look.
func (r *Runtime) start(inst runtime.Instance, cfg launch.Config, rec *record.Record, want record.Launch) error {
	if _, err := os.Stat(filepath.Join(cfg.BinRoot, cfg.KubernetesVersion, "kube-apiserver")); err != nil {
		return fmt.Errorf("this host has no Kubernetes %s binaries in %s", cfg.KubernetesVersion, cfg.BinRoot)
	}
	if inst.Spec.Store.Type == fleetv1.BackingStoreExternal && inst.Backend == "" {
		return errors.New("the External store's endpoint and credentials are not resolved")
	}
	p, err := procgroup.Start(procgroup.Spec{
		Name: inst.Name, Path: r.opts.Vfleet, Args: append([]string{launch.Command}, cfg.Args()...), Env: cfg.Env(), Dir: cfg.DataDir,
		LogFile: filepath.Join(cfg.DataDir, "controlplane.log"), Detached: true,
	})
	if err != nil {
		return err
	}
	if rec.Launch != want || rec.Generation != inst.Generation {
		rec.GaveUp = 0
	}
	rec.Pid, rec.Launch, rec.Generation = p.Pid(), want, inst.Generation
	if err := record.Write(cfg.DataDir, *rec); err != nil {
		_ = p.Kill()
		return err
	}
	r.opts.Log.Info("Started control plane", "controlPlane", inst.Name, "pid", rec.Pid, "port", rec.Port, "version", want.Version, "epoch", want.Epoch)
	// Reap it when it exits (it is this process's child), and say so.
	// Its slot is given back by what the agent does next (observe, a
	// start again, Remove), not here: a stopped process's exit may come
	// after its next start took the slot.
	r.mu.Lock()
	r.children[inst.Name] = p
	r.mu.Unlock()
	go func() {
		<-p.Done()
		r.mu.Lock()
		if r.children[inst.Name] == p {
			delete(r.children, inst.Name)
		}
		r.mu.Unlock()
		r.changed <- inst.Name
	}()
	return nil
}

// observe reads what the running control plane says of itself.
func (r *Runtime) observe(dir string, rec record.Record, endpoint string) runtime.State {
	s := runtime.State{Phase: fleetv1.ControlPlaneStarting, Endpoint: endpoint, Restarts: rec.Restarts}
	st, err := controlplane.ReadStatus(dir)
	if err != nil || st.Pid != rec.Pid {
		return s
	}
	s.Restarts += st.Restarts
	s.Message = st.Message
	switch st.Phase {
	case controlplane.PhaseRunning:
		kc, err := os.ReadFile(launch.AdminKubeconfig(dir))
		if err != nil {
			s.Message = "ready, but its kubeconfig cannot be read: " + err.Error()
			return s
		}
		s.Phase, s.Kubeconfig = fleetv1.ControlPlaneRunning, kc
	case controlplane.PhaseFailed:
		s.Phase = fleetv1.ControlPlaneFailed
	case controlplane.PhaseStopped:
		s.Phase = fleetv1.ControlPlaneStopped
	}
	return s
}

// allocatePort gives the lowest port in range that no other control plane
// of this runtime holds and nothing listens on.
func (r *Runtime) allocatePort(self string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	used := map[int]bool{}
	for _, d := range record.Dirs(r.opts.Root) {
		if d == self {
			continue
		}
		if rec, err := record.Read(d); err == nil {
			used[rec.Port] = true
		}
	}
	for p := r.opts.FirstPort; p <= r.opts.LastPort; p++ {
		if used[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(r.opts.Address, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		return p, nil
	}
	return 0, fmt.Errorf("no free control-plane port left in %d-%d", r.opts.FirstPort, r.opts.LastPort)
}

// Remove implements runtime.Runtime.
func (r *Runtime) Remove(ctx context.Context, inst runtime.Instance) error {
	name := inst.Name
	defer r.lock(name)()
	dir := r.dir(name)
	if rec, err := record.Read(dir); err == nil && r.alive(name, rec.Pid, dir) {
		// It returns once the process and its children are gone, so that
		// nothing uses the directory when it is deleted.
		if err := procgroup.StopGroup(ctx, rec.Pid, r.opts.StopGrace); err != nil {
			return err
		}
	}
	if err := errors.Join(os.RemoveAll(dir), controlplane.RemoveSocketDir(dir)); err != nil {
		return fmt.Errorf("control plane %s: remove its data: %w", name, err)
	}
	r.seenMu.Lock()
	delete(r.seen, name)
	r.seenMu.Unlock()
	r.gate.done(name)
	r.opts.Log.Info("Removed control plane", "controlPlane", name)
	return nil
}

// Metrics reads what the control plane name last wrote of its metrics
// (controlplane.MetricsPath), if it wrote them within maxAge.
func (r *Runtime) Metrics(name string, maxAge time.Duration) ([]byte, bool) {
	path := controlplane.MetricsPath(r.dir(name))
	fi, err := os.Stat(path)
	if err != nil || time.Since(fi.ModTime()) > maxAge {
		return nil, false
	}
	data, err := os.ReadFile(path)
	return data, err == nil
}

// Names lists the control planes the runtime keeps, running or not.
func (r *Runtime) Names() []string {
	var names []string
	for _, d := range record.Dirs(r.opts.Root) {
		names = append(names, filepath.Base(d))
	}
	return names
}

// fenceGrace is how long a control plane may take to stop when its host
// fences itself: the hub's failover delay is only seconds beyond.
const fenceGrace = 2 * time.Second

// Fence implements runtime.Runtime: every control plane's process group
// stops, all at once.
func (r *Runtime) Fence(ctx context.Context) error {
	dirs := record.Dirs(r.opts.Root)
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.lock(filepath.Base(dir))()
			if rec, err := record.Read(dir); err == nil && r.alive(filepath.Base(dir), rec.Pid, dir) {
				errs[i] = procgroup.StopGroup(ctx, rec.Pid, fenceGrace)
				r.opts.Log.Info("Fenced control plane", "controlPlane", filepath.Base(dir), "pid", rec.Pid)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Changed implements runtime.Runtime.
func (r *Runtime) Changed() <-chan string { return r.changed }

// Start watches the control planes' status files until ctx ends and tells
// of every change; a manager runs it.
func (r *Runtime) Start(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, d := range record.Dirs(r.opts.Root) {
			fi, err := os.Stat(controlplane.StatusPath(d))
			if err != nil {
				continue
			}
			name := filepath.Base(d)
			r.seenMu.Lock()
			changed := !fi.ModTime().Equal(r.seen[name])
			r.seen[name] = fi.ModTime()
			r.seenMu.Unlock()
			if changed {
				select {
				case r.changed <- name:
				case <-ctx.Done():
					return nil
				}
			}
		}
	}
}
