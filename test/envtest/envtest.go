// Package envtest starts controller-runtime's envtest control plane (etcd
// and kube-apiserver) from the binaries built in hack/tools, never from a
// download: KUBEBUILDER_ASSETS when set (make sets it), else k8sbin.Dir().
// Main is a package's whole TestMain over one or more of them.
package envtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/vfleet/vfleet/internal/ctrlopts"
	"github.com/vfleet/vfleet/internal/k8sbin"
)

// AssetsDir is where envtest finds etcd and kube-apiserver.
func AssetsDir() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return k8sbin.Dir()
}

// Start starts an environment wired to the built binaries, with the CRDs
// under crdPaths installed. If anything fails after the processes started
// (a CRD the API server refuses, say), it stops them before returning, so a
// failed start leaves nothing running.
func Start(crdPaths ...string) (*envtest.Environment, *rest.Config, error) {
	env, err := New(crdPaths...)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, nil, fmt.Errorf("start envtest from %s: %w", AssetsDir(), err)
	}
	return env, cfg, nil
}

// New returns an environment wired to the built binaries. crdPaths are
// installed when it starts. Prefer Start, which cleans up after a failure.
func New(crdPaths ...string) (*envtest.Environment, error) {
	dir := AssetsDir()
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(dir + "/" + bin); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run \"make binaries\"", bin, dir)
		}
	}
	return &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     crdPaths,
		ErrorIfCRDPathMissing: len(crdPaths) > 0,
	}, nil
}

// CRDDir is config/crd of this repository, found from the working directory
// (a test runs in its package's directory).
func CRDDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return filepath.Join("config", "crd")
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "config", "crd")); err == nil {
			return filepath.Join(dir, "config", "crd")
		}
		if filepath.Dir(dir) == dir {
			return filepath.Join(wd, "config", "crd")
		}
	}
}

// StartManager starts a manager over cfg, with metrics and probes off,
// once setup has registered its controllers, and waits for its caches.
// stop ends it and returns how it ended.
func StartManager(cfg *rest.Config, opts ctrl.Options, setup func(ctrl.Manager) error) (mgr ctrl.Manager, stop func() error, err error) {
	opts.Metrics = metricsserver.Options{BindAddress: "0"}
	opts.HealthProbeBindAddress = "0"
	opts.Controller = ctrlopts.Controller(opts.Controller)
	mgr, err = ctrl.NewManager(cfg, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := setup(mgr); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stop = func() error {
		cancel()
		return <-done
	}
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return nil, nil, errors.Join(errors.New("manager caches did not sync"), stop())
	}
	return mgr, stop, nil
}
