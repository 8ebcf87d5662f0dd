package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/lab"
)

func newLabCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run a local fleet of real Kubernetes processes",
		Long: `The lab runs a management cluster and host clusters on this machine, each
made of real etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and kwok processes, with generated certificates, on 127.0.0.1.`,
	}
	cmd.AddCommand(newLabUpCommand(), newLabDownCommand(), newLabStatusCommand())
	return cmd
}

type labUpOptions struct {
	dir        string
	binDir     string
	hosts      int
	nodes      int
	realNodes  int
	runtime    string
	nodeCPU    string
	nodeMemory string
	nodePods   int64
	portBase   int
	// regions, when set, runs a federation of that many region labs.
	regions    int
	foreground bool
	// demo names a vcluster to create once the lab is up.
	demo string
	// detached is set on the background process `up` starts, whose
	// terminal is a log file: no Ctrl-C there.
	detached bool
}

func newLabUpCommand() *cobra.Command {
	o := labUpOptions{dir: lab.DefaultDir(), hosts: 3, nodes: 2}
	def := lab.DefaultNodeCapacity()
	o.nodeCPU, o.nodeMemory, o.nodePods = def.CPU.String(), def.Memory.String(), def.Pods
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a lab: 1 management cluster and 3 host clusters in 2 regions by default",
		Long: `Start a lab and wait until every cluster is ready and every node is Ready.

By default the lab keeps running in the background after this command returns;
stop it with "vfleet lab down". With --foreground it runs in this terminal
until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.regions > 0 {
				cfg, err := o.federationConfig(cmd.Flags().Changed("hosts"))
				if err != nil {
					return err
				}
				if o.foreground {
					return runFederationForeground(cmd.Context(), cfg, o.detached, cmd.OutOrStdout())
				}
				return startFederationBackground(cmd.Context(), cfg, cmd.OutOrStdout())
			}
			cfg, err := o.config()
			if err != nil {
				return err
			}
			if o.foreground {
				return runLabForeground(cmd.Context(), cfg, o, cmd.OutOrStdout())
			}
			if err := startLabBackground(cmd.Context(), cfg, o, cmd.OutOrStdout()); err != nil {
				return err
			}
			if o.demo != "" {
				return createDemo(cmd.Context(), cfg.Dir, o.demo, cmd.OutOrStdout())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", o.dir, "directory for the lab's data, logs and kubeconfigs (env VFLEET_LAB_DIR)")
	f.StringVar(&o.binDir, "bin-dir", "", "directory with the Kubernetes binaries (default: bin/k8s/"+k8sbin.Version+", env "+k8sbin.DirEnv+")")
	f.IntVar(&o.hosts, "hosts", o.hosts, "number of host clusters (per region with --regions, default 1 there)")
	f.IntVar(&o.regions, "regions", 0, "run a federation of this many regions (at least 3), each with its management cluster, hub and hosts, the hubs in network namespaces of their own (needs root)")
	f.IntVar(&o.nodes, "nodes", o.nodes, "kwok nodes per host")
	f.StringVar(&o.runtime, "runtime", o.runtime, "how the first host's agent runs control planes: process, or kubernetes (as pods on its real nodes, from the vfleet image)")
	f.IntVar(&o.realNodes, "real-nodes", o.realNodes, "real nodes (containerd, kubelet, runc) on the first host, beside its kwok nodes; they need root and \"make images node-packages\"")
	f.StringVar(&o.nodeCPU, "node-cpu", o.nodeCPU, "allocatable cpu of each node")
	f.StringVar(&o.nodeMemory, "node-memory", o.nodeMemory, "allocatable memory of each node")
	f.Int64Var(&o.nodePods, "node-pods", o.nodePods, "allocatable pods of each node")
	f.IntVar(&o.portBase, "port-base", 0, "listen on consecutive ports from this one (default: free ports chosen by the system)")
	f.StringVar(&o.demo, "demo", "", "create a vcluster of this name once the lab is up, and say how to use it")
	f.BoolVar(&o.foreground, "foreground", false, "run in this terminal until interrupted instead of in the background")
	f.BoolVar(&o.detached, "detached", false, "set by up on the background process it starts")
	_ = f.MarkHidden("detached")
	return cmd
}

func (o labUpOptions) config() (lab.Config, error) {
	cpu, err := resource.ParseQuantity(o.nodeCPU)
	if err != nil {
		return lab.Config{}, fmt.Errorf("--node-cpu %q: %w", o.nodeCPU, err)
	}
	mem, err := resource.ParseQuantity(o.nodeMemory)
	if err != nil {
		return lab.Config{}, fmt.Errorf("--node-memory %q: %w", o.nodeMemory, err)
	}
	if o.hosts < 0 {
		return lab.Config{}, fmt.Errorf("--hosts must not be negative, got %d", o.hosts)
	}
	hosts := lab.DefaultHosts(o.hosts, o.nodes)
	for i := range hosts {
		hosts[i].Node = lab.NodeCapacity{CPU: cpu, Memory: mem, Pods: o.nodePods}
	}
	if o.realNodes > 0 {
		if len(hosts) == 0 {
			return lab.Config{}, errors.New("--real-nodes needs at least one host")
		}
		hosts[0].RealNodes = o.realNodes
	}
	if o.runtime != "" && len(hosts) > 0 {
		hosts[0].Runtime = o.runtime
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return lab.Config{}, err
	}
	cfg := lab.Config{Dir: dir, BinDir: o.binDir, Hosts: hosts, PortBase: o.portBase}
	if cfg.BinDir == "" {
		cfg.BinDir = k8sbin.Dir()
	}
	return cfg, nil
}

// runLabForeground runs the lab in this process until ctx ends.
func runLabForeground(ctx context.Context, cfg lab.Config, o labUpOptions, out io.Writer) error {
	detached := o.detached
	cfg.Progress = out
	l, err := lab.New(cfg)
	if err != nil {
		return err
	}
	if err := l.Start(ctx); err != nil {
		return err
	}
	stop := fmt.Sprintf("\"vfleet lab down --dir %s\"", cfg.Dir)
	if !detached {
		stop = "Ctrl-C or " + stop
	}
	fmt.Fprintf(out, "lab is up in %s (pid %d); stop it with %s\n", cfg.Dir, os.Getpid(), stop)
	if o.demo != "" && !detached {
		if err := createDemo(ctx, cfg.Dir, o.demo, out); err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
		}
	}
	<-ctx.Done()
	return l.Stop(context.Background())
}

// detachedLab is a `vfleet lab up --foreground --detached` started in a
// session of its own, so that the lab outlives this command and the
// terminal; its output goes to the lab's log.
type detachedLab struct {
	*exec.Cmd
	logPath string
	exited  chan error
}

// startDetached starts this vfleet with args, detached, its output in
// dir's lab log.
func startDetached(dir string, args ...string) (*detachedLab, error) {
	logPath := filepath.Join(dir, lab.LogFile)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	child := &detachedLab{Cmd: exec.Command(self, args...), logPath: logPath, exited: make(chan error, 1)}
	child.Stdout, child.Stderr = logFile, logFile
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return nil, err
	}
	go func() { child.exited <- child.Wait() }()
	return child, nil
}

// startLabBackground starts `vfleet lab up --foreground` detached from this
// terminal, shows its progress, and returns once the lab is ready or failed.
func startLabBackground(ctx context.Context, cfg lab.Config, o labUpOptions, out io.Writer) error {
	// Check what can be checked here, before a background process exists.
	if _, err := lab.New(cfg); err != nil {
		return err
	}
	if err := lab.CheckDir(cfg.Dir); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	child, err := startDetached(cfg.Dir, "lab", "up", "--foreground", "--detached",
		"--dir", cfg.Dir, "--bin-dir", cfg.BinDir,
		"--hosts", strconv.Itoa(o.hosts), "--nodes", strconv.Itoa(o.nodes), "--real-nodes", strconv.Itoa(o.realNodes), "--runtime", o.runtime,
		"--node-cpu", o.nodeCPU, "--node-memory", o.nodeMemory, "--node-pods", strconv.FormatInt(o.nodePods, 10),
		"--port-base", strconv.Itoa(o.portBase),
	)
	if err != nil {
		return err
	}
	logPath, exited := child.logPath, child.exited

	fmt.Fprintf(out, "starting the lab in the background (pid %d, log %s)\n", child.Process.Pid, logPath)
	follow, err := os.Open(logPath)
	if err != nil {
		return err
	}
	defer follow.Close()
	reader := bufio.NewReader(follow)
	copyLog := func() {
		for {
			line, err := reader.ReadString('\n')
			if line != "" && err == nil {
				fmt.Fprint(out, line)
			}
			if err != nil {
				// Keep a partial line for the next read.
				if line != "" {
					_, _ = follow.Seek(-int64(len(line)), io.SeekCurrent)
					reader.Reset(follow)
				}
				return
			}
		}
	}
	for {
		copyLog()
		if st, err := lab.ReadState(cfg.Dir); err == nil && st.Phase == lab.PhaseRunning && st.Pid == child.Process.Pid {
			fmt.Fprintln(out)
			return printStatus(ctx, cfg.Dir, out)
		}
		select {
		case err := <-exited:
			copyLog()
			return fmt.Errorf("the lab did not start (%v); its log is %s", err, logPath)
		case <-ctx.Done():
			// Interrupted while starting: do not leave a half-started lab.
			_ = child.Process.Signal(syscall.SIGTERM)
			if err := <-exited; err != nil {
				fmt.Fprintf(out, "the lab stopped: %v\n", err)
			}
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func newLabDownCommand() *cobra.Command {
	dir := lab.DefaultDir()
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the lab and delete its directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			down := lab.Down
			if len(lab.FederationRegionDirs(abs)) > 0 {
				down = lab.DownFederation
			}
			if err := down(cmd.Context(), abs); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab in %s stopped and deleted\n", abs)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", dir, "the lab's directory (env VFLEET_LAB_DIR)")
	return cmd
}

func newLabStatusCommand() *cobra.Command {
	dir := lab.DefaultDir()
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each cluster of the lab: endpoint, kubeconfig, nodes and health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			switch {
			case output == "" && len(lab.FederationRegionDirs(abs)) > 0:
				return printFederationLab(cmd.Context(), abs, cmd.OutOrStdout())
			case output == "":
				return printStatus(cmd.Context(), abs, cmd.OutOrStdout())
			case output == "json":
				st, clusters, err := lab.Status(cmd.Context(), abs)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					*lab.State
					Clusters []lab.ClusterStatus `json:"clusters"`
				}{st, clusters})
			default:
				return fmt.Errorf("--output %q: want json or nothing", output)
			}
		},
	}
	cmd.Flags().StringVar(&dir, "dir", dir, "the lab's directory (env VFLEET_LAB_DIR)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}

func printStatus(ctx context.Context, dir string, out io.Writer) error {
	st, clusters, err := lab.Status(ctx, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "lab %s: %s (pid %d, started %s)\n", dir, st.Phase, st.Pid, st.Started.Local().Format(time.DateTime))
	if st.Message != "" {
		fmt.Fprintf(out, "  %s\n", st.Message)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tREGION\tZONE\tENDPOINT\tNODES\tHEALTH\tKUBECONFIG")
	var problems []string
	for _, c := range clusters {
		nodes := "-"
		if c.Nodes > 0 {
			nodes = fmt.Sprintf("%d/%d", c.NodesReady, c.Nodes)
		}
		health := "Healthy"
		switch {
		case st.Phase != lab.PhaseRunning && st.Phase != lab.PhaseStarting:
			health, nodes = "-", "-"
		case c.Problem != "":
			health = "Unhealthy"
			problems = append(problems, fmt.Sprintf("  %s: %s", c.Name, c.Problem))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Role, dash(c.Region), dash(c.Zone), c.Endpoint, nodes, health, c.Kubeconfig)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(problems) > 0 {
		fmt.Fprintln(out, strings.Join(problems, "\n"))
	}
	if st.Phase == lab.PhaseRunning && len(clusters) > 1 {
		fmt.Fprintf(out, "\ntry:  kubectl --kubeconfig %s get hostclusters\n      kubectl --kubeconfig %s get nodes\nstop: vfleet lab down --dir %s\n",
			clusters[0].Kubeconfig, clusters[1].Kubeconfig, dir)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// defaultBinDir is where this vfleet finds the Kubernetes binaries.
func defaultBinDir() string { return k8sbin.Dir() }

// createDemo creates a vcluster in the lab in dir, shows its progress, and
// writes its kubeconfig next to the lab's.
func createDemo(ctx context.Context, dir, name string, out io.Writer) error {
	t := target{kubeconfig: filepath.Join(dir, "management", "kubeconfig"), namespace: "default"}
	c, ns, err := t.client()
	if err != nil {
		return err
	}
	vc := &fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	vc.Spec.KubernetesVersion = k8sbin.Version
	vc.Spec.Resources = fleetv1.Resources{CPU: resource.MustParse("2"), Memory: resource.MustParse("4Gi"), Pods: 50}
	if err := c.Create(ctx, vc); err != nil && !apierrors.IsAlreadyExists(err) {
		return apiError(err)
	}
	fmt.Fprintf(out, "vcluster %s: waiting for it to be Ready\n", name)
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := waitReady(wctx, c, client.ObjectKeyFromObject(vc), newProgress(out)); err != nil {
		return err
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(vc), vc); err != nil {
		return err
	}
	kc, err := tenantKubeconfig(ctx, c, vc)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, name+".kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nvcluster %s is Ready on host %s. Use it:\n  kubectl --kubeconfig %s get namespaces\n", name, vc.Status.Host, path)
	fmt.Fprintf(out, "More vclusters:  KUBECONFIG=%s vfleet create NAME --wait   (then vfleet list, describe, connect, delete)\n", t.kubeconfig)
	return nil
}
