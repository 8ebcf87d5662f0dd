package envtest

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/k8sbin"
)

// TestEnvtestRunsTheBuiltBinaries checks the wiring every controller suite
// relies on: envtest starts, and what answers is the pinned Kubernetes.
func TestEnvtestRunsTheBuiltBinaries(t *testing.T) {
	env, cfg, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != k8sbin.Version {
		t.Fatalf("envtest runs %s, want %s", v.GitVersion, k8sbin.Version)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "smoke"}}
	if _, err := client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// testsFunc runs "the tests" of a Main under test.
type testsFunc func() int

func (f testsFunc) Run() int { return f() }

// TestMainStopsAllWhenAStartFails: a suite whose setup fails stops what
// already runs, the first suite's API server included, and the tests do
// not run.
func TestMainStopsAllWhenAStartFails(t *testing.T) {
	var first *rest.Config
	cleaned := false
	code := run(testsFunc(func() int {
		t.Error("the tests ran after a failed start")
		return 0
	}), []Suite{
		{Setup: func(e Env) (func(), error) { first = e.Config; return nil, nil }},
		{Setup: func(Env) (func(), error) { return func() { cleaned = true }, errors.New("no") }},
	})
	if code == 0 {
		t.Fatal("exit code 0 after a failed start")
	}
	if !cleaned {
		t.Error("the failed setup's cleanup did not run")
	}
	if first == nil {
		t.Fatal("the first suite's setup did not run")
	}
	client, err := kubernetes.NewForConfig(first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Discovery().ServerVersion(); err == nil {
		t.Error("the first API server still answers")
	}
}

// TestMainRunsTheTestsBesideTheManager: the tests run with the CRDs
// installed, a direct client and the manager's controllers registered, and
// Main returns their code.
func TestMainRunsTheTestsBesideTheManager(t *testing.T) {
	var env Env
	registered := false
	code := run(testsFunc(func() int {
		if env.Manager == nil || !registered {
			t.Error("the manager did not run the controllers")
		}
		var hosts fleetv1.HostClusterList
		if err := env.Client.List(context.Background(), &hosts); err != nil {
			t.Errorf("list a CRD's objects: %v", err)
		}
		return 3
	}), []Suite{{
		CRDs:        true,
		Controllers: func(ctrl.Manager) error { registered = true; return nil },
		Setup:       func(e Env) (func(), error) { env = e; return nil, nil },
	}})
	if code != 3 {
		t.Fatalf("exit code %d, want the tests' 3", code)
	}
}
