package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/vfleet/vfleet/lab"
)

// The federation lab: `vfleet lab up --regions N` runs N region labs, each
// a management cluster with its hub and its hosts, whose hubs form one
// federation over a bridge and a network namespace per hub. It needs root
// (network namespaces).

// federationConfig is the federation lab o asks for.
func (o labUpOptions) federationConfig(hostsSet bool) (lab.FederationConfig, error) {
	if o.realNodes > 0 || o.demo != "" || o.portBase != 0 {
		return lab.FederationConfig{}, fmt.Errorf("--regions runs kwok nodes only: drop --real-nodes, --demo and --port-base")
	}
	hosts := 1
	if hostsSet {
		hosts = o.hosts
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return lab.FederationConfig{}, err
	}
	return lab.FederationConfig{Dir: dir, BinDir: o.binDir, Regions: o.regions, HostsPerRegion: hosts, Nodes: o.nodes}, nil
}

// runFederationForeground runs the federation lab in this process until
// ctx ends.
func runFederationForeground(ctx context.Context, cfg lab.FederationConfig, detached bool, out io.Writer) error {
	cfg.Progress = out
	fed, err := lab.NewFederation(cfg)
	if err != nil {
		return err
	}
	if err := fed.Start(ctx); err != nil {
		return err
	}
	stop := fmt.Sprintf("\"vfleet lab down --dir %s\"", cfg.Dir)
	if !detached {
		stop = "Ctrl-C or " + stop
	}
	fmt.Fprintf(out, "federation of %d regions is up in %s (pid %d); stop it with %s\n", cfg.Regions, cfg.Dir, os.Getpid(), stop)
	<-ctx.Done()
	return fed.Stop(context.Background())
}

// startFederationBackground starts `vfleet lab up --foreground --regions`
// detached from this terminal, shows its progress, and returns once every
// region is ready or the start failed.
func startFederationBackground(ctx context.Context, cfg lab.FederationConfig, out io.Writer) error {
	if _, err := lab.NewFederation(cfg); err != nil {
		return err
	}
	if len(lab.FederationRegionDirs(cfg.Dir)) > 0 {
		return fmt.Errorf("%s holds a federation lab already: stop it with \"vfleet lab down --dir %s\"", cfg.Dir, cfg.Dir)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	child, err := startDetached(cfg.Dir, "lab", "up", "--foreground", "--detached", "--dir", cfg.Dir, "--bin-dir", cfg.BinDir,
		"--regions", strconv.Itoa(cfg.Regions), "--hosts", strconv.Itoa(cfg.HostsPerRegion), "--nodes", strconv.Itoa(cfg.Nodes))
	if err != nil {
		return err
	}
	logPath, exited := child.logPath, child.exited
	fmt.Fprintf(out, "starting a federation of %d regions in the background (pid %d, log %s)\n", cfg.Regions, child.Process.Pid, logPath)
	last := filepath.Join(cfg.Dir, lab.RegionName(cfg.Regions))
	for {
		if st, err := lab.ReadState(last); err == nil && st.Phase == lab.PhaseRunning && st.Pid == child.Process.Pid {
			return printFederationLab(ctx, cfg.Dir, out)
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the federation lab did not start (%v); its log is %s", err, logPath)
		case <-ctx.Done():
			_ = child.Process.Signal(syscall.SIGTERM)
			if err := <-exited; err != nil {
				fmt.Fprintf(out, "the federation lab stopped: %v\n", err)
			}
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// printFederationLab prints each region's lab.
func printFederationLab(ctx context.Context, dir string, out io.Writer) error {
	for _, region := range lab.FederationRegionDirs(dir) {
		fmt.Fprintf(out, "\n== %s\n", filepath.Base(region))
		if err := printStatus(ctx, region, out); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\nfederation: vfleet federation status --peer 10.251.0.11:7400 --cert-file %[1]s/federation-pki/operator.crt --key-file %[1]s/federation-pki/operator.key --ca-file %[1]s/federation-pki/ca.crt\nstop: vfleet lab down --dir %[1]s\n", dir)
	return nil
}
