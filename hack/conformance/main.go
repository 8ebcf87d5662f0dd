// Command conformance runs the upstream Kubernetes conformance specs of
// sig-apps, sig-network, sig-node and sig-cli twice in one run: against a
// lab host whose pods run on real nodes, and against a vcluster on that
// host. It prints passed and failed for each side and the specs that pass
// on the host but fail on the vcluster, and writes them to -out.
//
// make conformance runs it, after building e2e.test (build.sh), kubectl
// and the images the specs use.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vfleet/vfleet/internal/k8sbin"
)

func main() {
	var o options
	flag.StringVar(&o.e2e, "e2e", filepath.Join(k8sbin.Dir(), "e2e.test"), "the upstream e2e test binary (hack/conformance/build.sh)")
	flag.StringVar(&o.kubectl, "kubectl", filepath.Join(k8sbin.Dir(), "kubectl"), "kubectl, which the sig-cli specs run")
	flag.StringVar(&o.focus, "focus", DefaultFocus, "the specs to run (a regular expression over their full names)")
	flag.StringVar(&o.skips, "skips", "hack/conformance/skips.txt", "the skip list: a regular expression per line, each with its reason")
	flag.StringVar(&o.out, "out", "bin/conformance", "where the lab, the reports and the summary go")
	flag.StringVar(&o.sides, "sides", "host,vcluster", "which sides to run, in order")
	flag.DurationVar(&o.timeout, "timeout", 6*time.Hour, "how long each side may take")
	flag.IntVar(&o.realNodes, "real-nodes", 2, "real nodes of the lab host")
	flag.StringVar(&o.ginkgo, "ginkgo", filepath.Join(k8sbin.Dir(), "ginkgo"), "the ginkgo CLI, which runs the suite in -procs processes")
	flag.Int64Var(&o.seed, "seed", time.Now().Unix(), "the order specs run in, the same on both sides (so that a time limit cuts both alike)")
	flag.BoolVar(&o.summarizeOnly, "summarize", false, "start nothing: summarize the reports an earlier run left in -out")
	flag.IntVar(&o.procs, "procs", 4, "processes the specs run in ([Serial] specs run alone, after the others); 1 runs e2e.test by itself")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

// DefaultFocus is the set: the conformance specs of four SIGs.
const DefaultFocus = `\[sig-(apps|network|node|cli)\].*\[Conformance\]`

type options struct {
	e2e, kubectl, ginkgo, focus, skips, out, sides string
	timeout                                        time.Duration
	realNodes, procs                               int
	seed                                           int64
	summarizeOnly                                  bool
}

func run(ctx context.Context, o options) error {
	for _, bin := range []string{o.e2e, o.kubectl} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%w: make conformance builds it", err)
		}
	}
	skips, err := readSkips(o.skips)
	if err != nil {
		return err
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return err
	}
	if o.summarizeOnly {
		return summarizeReports(o, skips, out)
	}
	env, err := startLab(ctx, filepath.Join(out, "lab"), o.realNodes)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := env.stop(sctx); err != nil {
			fmt.Fprintln(os.Stderr, "conformance: stopping the lab:", err)
		}
	}()
	results := map[string]*result{}
	var order []string
	for _, side := range splitList(o.sides) {
		kubeconfig, ok := env.kubeconfigs[side]
		if !ok {
			return fmt.Errorf("side %q: want host or vcluster", side)
		}
		fmt.Printf("conformance: running %s on the %s (%s)\n", o.focus, side, kubeconfig)
		r, err := runSide(ctx, o, side, kubeconfig, skips, filepath.Join(out, side))
		if err != nil {
			return fmt.Errorf("%s: %w", side, err)
		}
		results[side] = r
		order = append(order, side)
		fmt.Printf("conformance: %s: %d passed, %d failed, %d skipped\n", side, len(r.passed), len(r.failed), len(r.skipped))
	}
	summary := summarize(o.focus, skips, order, results)
	fmt.Print(summary)
	return errors.Join(os.WriteFile(filepath.Join(out, "summary.md"), []byte(summary), 0o644))
}

// summarizeReports summarizes the reports a run left in out.
func summarizeReports(o options, skips []skip, out string) error {
	results := map[string]*result{}
	var order []string
	for _, side := range splitList(o.sides) {
		r, err := readReport(filepath.Join(out, side, "junit_01.xml"))
		if err != nil {
			return err
		}
		results[side] = r
		order = append(order, side)
	}
	summary := summarize(o.focus, skips, order, results)
	fmt.Print(summary)
	return os.WriteFile(filepath.Join(out, "summary.md"), []byte(summary), 0o644)
}
