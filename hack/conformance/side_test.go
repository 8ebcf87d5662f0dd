package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSkips(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "skips.txt")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	skips, err := readSkips(write("# a comment\n\n\\[sig-network\\] httpd # the httpd image cannot be built here\n"))
	if err != nil || len(skips) != 1 || skips[0].reason != "the httpd image cannot be built here" || !skips[0].pattern.MatchString("[sig-network] httpd works") {
		t.Fatalf("readSkips = %+v, %v", skips, err)
	}
	if _, err := readSkips(write("\\[sig-network\\] httpd\n")); err == nil || !strings.Contains(err.Error(), "needs its reason") {
		t.Errorf("an entry without a reason: %v", err)
	}
	if _, err := readSkips(write("([ # unbalanced\n")); err == nil {
		t.Error("a pattern that does not compile was taken")
	}
}

// TestReadReport reads a report as the e2e suite writes it: setup nodes
// are not specs.
func TestReadReport(t *testing.T) {
	report := `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" failures="1">
  <testsuite name="Kubernetes e2e suite" tests="4">
    <testcase name="[SynchronizedBeforeSuite]" status="passed"></testcase>
    <testcase name="[It] [sig-apps] Deployment works [Conformance]" status="passed"></testcase>
    <testcase name="[It] [sig-node] Pods fail [Conformance]" status="failed"><failure message="x">boom</failure></testcase>
    <testcase name="[It] [sig-cli] Kubectl skipped [Conformance]" status="skipped"><skipped message="skipped - needs two nodes"></skipped></testcase>
    <testcase name="[It] [sig-storage] not in focus" status="skipped"><skipped message="skipped"></skipped></testcase>
  </testsuite>
</testsuites>`
	p := filepath.Join(t.TempDir(), "junit_01.xml")
	if err := os.WriteFile(p, []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := readReport(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.passed) != 1 || len(r.failed) != 1 || len(r.skipped) != 1 || r.passed[0] != "[sig-apps] Deployment works [Conformance]" {
		t.Fatalf("readReport = %+v", r)
	}
	s := summarize("x", nil, []string{"host", "vcluster"}, map[string]*result{
		"host":     {passed: []string{"a", "b", "c"}},
		"vcluster": {passed: []string{"a"}, failed: []string{"b"}},
	})
	if !strings.Contains(s, "## Pass on the host, fail on the vcluster (1)\n\n- b\n") || !strings.Contains(s, "## Pass on the host, not run on the vcluster (1)\n\n- c\n") {
		t.Errorf("summary:\n%s", s)
	}
}
