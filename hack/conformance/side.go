package main

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// skip is an entry of the skip list: specs it matches, and why.
type skip struct {
	pattern *regexp.Regexp
	reason  string
}

// readSkips reads the skip list: one regular expression per line, then
// "#" and the reason, which is required. Blank lines and lines that start
// with "#" are comments.
func readSkips(path string) ([]skip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []skip
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		expr, reason, ok := strings.Cut(line, " # ")
		if !ok || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: an entry needs its reason after \" # \"", path, n)
		}
		re, err := regexp.Compile(strings.TrimSpace(expr))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, skip{pattern: re, reason: strings.TrimSpace(reason)})
	}
	return out, sc.Err()
}

// result is what one side's run said of each spec.
type result struct {
	passed, failed, skipped []string
}

// runSide runs the focused specs against kubeconfig, the skip list left
// out, with the JUnit report in dir, and reads the report.
func runSide(ctx context.Context, o options, side, kubeconfig string, skips []skip, dir string) (*result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var skipExprs []string
	for _, s := range skips {
		skipExprs = append(skipExprs, s.pattern.String())
	}
	suite := []string{
		"--kubeconfig=" + kubeconfig,
		"--kubectl-path=" + o.kubectl,
		"--provider=local",
		"--report-dir=" + dir,
		"--allowed-not-ready-nodes=0",
		"--dump-logs-on-failure=false",
	}
	run := []string{"focus=" + o.focus, "timeout=" + o.timeout.String(), "seed=" + strconv.FormatInt(o.seed, 10), "no-color", "v"}
	if len(skipExprs) > 0 {
		run = append(run, "skip="+strings.Join(skipExprs, "|"))
	}
	bin, args := o.e2e, suite
	for _, r := range run {
		args = append(args, "-ginkgo."+r)
	}
	if o.procs > 1 {
		bin, args = o.ginkgo, []string{"--procs=" + strconv.Itoa(o.procs)}
		for _, r := range run {
			args = append(args, "--"+r)
		}
		args = append(append(args, o.e2e, "--"), suite...)
	}
	log, err := os.Create(filepath.Join(dir, "e2e.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = dir
	// ginkgo and its e2e.test processes are a group of their own, told
	// as one to stop (with their reports written), and killed as one
	// after a grace: no suite outlives the run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = time.Minute
	fmt.Printf("conformance: %s: the e2e log is %s\n", side, log.Name())
	runErr := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	r, err := readReport(filepath.Join(dir, "junit_01.xml"))
	if err != nil {
		// No report: the suite did not get to its specs.
		return nil, errors.Join(fmt.Errorf("no report (see %s)", log.Name()), runErr, err)
	}
	return r, nil
}

type junitSuite struct {
	Cases []struct {
		Name    string `xml:"name,attr"`
		Skipped *struct {
			Message string `xml:"message,attr"`
		} `xml:"skipped"`
		Failure *struct{} `xml:"failure"`
		Error   *struct{} `xml:"error"`
	} `xml:"testcase"`
}

// readReport reads a JUnit report of the e2e suite. Its setup and
// teardown nodes ([SynchronizedBeforeSuite] and the like) are not specs,
// and neither are those left out by the focus or the skip list (message
// "skipped", where a spec that skipped itself says why).
func readReport(path string) (*result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var suites struct {
		Suites []junitSuite `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &suites); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := &result{}
	for _, s := range suites.Suites {
		for _, c := range s.Cases {
			name := strings.TrimPrefix(c.Name, "[It] ")
			switch {
			case !strings.Contains(c.Name, "[It]"), c.Skipped != nil && c.Skipped.Message == "skipped":
			case c.Failure != nil || c.Error != nil:
				r.failed = append(r.failed, name)
			case c.Skipped != nil:
				r.skipped = append(r.skipped, name)
			default:
				r.passed = append(r.passed, name)
			}
		}
	}
	return r, nil
}

// summarize says, in Markdown, how each side did and which specs pass on
// the host but not on the vcluster.
func summarize(focus string, skips []skip, order []string, results map[string]*result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Conformance: %s\n\n| side | passed | failed | skipped |\n|---|---|---|---|\n", focus)
	for _, side := range order {
		r := results[side]
		fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", side, len(r.passed), len(r.failed), len(r.skipped))
	}
	host, vc := results["host"], results["vcluster"]
	if host != nil && vc != nil {
		// A spec one side did not get to (its time ran out) is not a
		// difference between them, and is listed apart.
		var diff, unrun []string
		for _, name := range host.passed {
			switch {
			case slices.Contains(vc.failed, name):
				diff = append(diff, name)
			case !slices.Contains(vc.passed, name) && !slices.Contains(vc.skipped, name):
				unrun = append(unrun, name)
			}
		}
		sort.Strings(diff)
		sort.Strings(unrun)
		fmt.Fprintf(&b, "\n## Pass on the host, fail on the vcluster (%d)\n\n", len(diff))
		for _, name := range diff {
			fmt.Fprintf(&b, "- %s\n", name)
		}
		if len(unrun) > 0 {
			fmt.Fprintf(&b, "\n## Pass on the host, not run on the vcluster (%d)\n\n", len(unrun))
			for _, name := range unrun {
				fmt.Fprintf(&b, "- %s\n", name)
			}
		}
	}
	for _, side := range order {
		r := results[side]
		failed := slices.Clone(r.failed)
		sort.Strings(failed)
		fmt.Fprintf(&b, "\n## Failed on the %s (%d)\n\n", side, len(failed))
		for _, name := range failed {
			fmt.Fprintf(&b, "- %s\n", name)
		}
	}
	fmt.Fprintf(&b, "\n## Skipped (hack/conformance/skips.txt)\n\n")
	for _, s := range skips {
		fmt.Fprintf(&b, "- `%s`: %s\n", s.pattern, s.reason)
	}
	return b.String()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
