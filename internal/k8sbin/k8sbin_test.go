package k8sbin

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestKubernetesVersionMatchesTools keeps the idea of the binaries' version
// in step with what hack/tools builds.
func TestKubernetesVersionMatchesTools(t *testing.T) {
	mod, err := os.ReadFile("../../hack/tools/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/kubernetes (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("hack/tools/go.mod does not require k8s.io/kubernetes")
	}
	if string(m[1]) != Version {
		t.Fatalf("hack/tools builds %s, k8sbin.Version is %s", m[1], Version)
	}
}

// TestContainerdVersionMatchesItsModule keeps ContainerdVersion in step
// with what hack/containerd builds.
func TestContainerdVersionMatchesItsModule(t *testing.T) {
	mod, err := os.ReadFile("../../hack/containerd/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/containerd/containerd/v2 (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("hack/containerd/go.mod does not require containerd")
	}
	if string(m[1]) != ContainerdVersion {
		t.Fatalf("hack/containerd builds %s, k8sbin.ContainerdVersion is %s", m[1], ContainerdVersion)
	}
}

// TestCoreDNSVersionMatchesItsModule keeps CoreDNSVersion in step with
// what hack/coredns builds.
func TestCoreDNSVersionMatchesItsModule(t *testing.T) {
	mod, err := os.ReadFile("../../hack/coredns/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/coredns/coredns (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("hack/coredns/go.mod does not require CoreDNS")
	}
	if string(m[1]) != CoreDNSVersion {
		t.Fatalf("hack/coredns builds %s, k8sbin.CoreDNSVersion is %s", m[1], CoreDNSVersion)
	}
}

// TestDirFindsTheBuiltBinaries: the environment variable wins; without it a
// test, run inside the source tree, finds bin/k8s/<version> above it.
func TestDirFindsTheBuiltBinaries(t *testing.T) {
	t.Setenv(DirEnv, "/elsewhere")
	if got := Dir(); got != "/elsewhere" {
		t.Fatalf("with %s set, Dir() = %s", DirEnv, got)
	}
	t.Setenv(DirEnv, "")
	want, err := filepath.Abs(filepath.Join("..", "..", "bin", "k8s", Version))
	if err != nil {
		t.Fatal(err)
	}
	if !isDir(want) {
		t.Skipf("%s is not built", want)
	}
	if got := Dir(); got != want {
		t.Fatalf("Dir() = %s, want %s", got, want)
	}
}
