package envtest

import (
	"fmt"
	"os"
	"testing"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/apis"
)

// Suite is one API server a package's tests run against, and what runs
// beside it while they do.
type Suite struct {
	// CRDs installs the CRDs of config/crd.
	CRDs bool
	// Controllers, when set, registers controllers with a manager that runs
	// over the API server, its caches synced, while the tests run.
	Controllers func(ctrl.Manager) error
	// ManagerOptions are the manager's options. Scheme defaults to
	// apis.Scheme(); metrics and probes are always off.
	ManagerOptions ctrl.Options
	// Setup, when set, runs once the API server and the manager run, before
	// the tests: it keeps what the tests need and starts what else they
	// use. The cleanup it returns, if any, runs after the tests.
	Setup func(Env) (cleanup func(), err error)
}

// Env is a running API server, as Setup sees it.
type Env struct {
	// Config reaches the API server as its administrator.
	Config *rest.Config
	// Client reads and writes the API server directly, with apis.Scheme():
	// no cache stands between a test and what the server holds.
	Client client.Client
	// Manager runs the Suite's Controllers; nil when there are none.
	Manager ctrl.Manager
}

// Main is a package's TestMain: it starts one API server for each suite, in
// order, runs the tests, stops all it started and exits with the tests'
// code. If anything fails to start, it prints why, stops what already runs
// and exits 1 without running the tests.
func Main(m *testing.M, suites ...Suite) {
	os.Exit(run(m, suites))
}

// run is Main without the exit, taking anything that runs tests.
func run(m interface{ Run() int }, suites []Suite) int {
	var stops []func() error
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			if err := stops[i](); err != nil {
				fmt.Fprintln(os.Stderr, "envtest:", err)
			}
		}
	}()
	for _, s := range suites {
		if err := s.start(&stops); err != nil {
			fmt.Fprintln(os.Stderr, "envtest:", err)
			return 1
		}
	}
	return m.Run()
}

// start starts the suite's API server, manager and setup, appending to
// stops how to stop each as soon as it runs.
func (s Suite) start(stops *[]func() error) error {
	var crds []string
	if s.CRDs {
		crds = append(crds, CRDDir())
	}
	env, cfg, err := Start(crds...)
	if err != nil {
		return err
	}
	*stops = append(*stops, func() error {
		if err := env.Stop(); err != nil {
			return fmt.Errorf("stop the API server: %w", err)
		}
		return nil
	})
	e := Env{Config: cfg}
	if e.Client, err = client.New(cfg, client.Options{Scheme: apis.Scheme()}); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if s.Controllers != nil {
		opts := s.ManagerOptions
		if opts.Scheme == nil {
			opts.Scheme = apis.Scheme()
		}
		mgr, stop, err := StartManager(cfg, opts, s.Controllers)
		if err != nil {
			return fmt.Errorf("manager: %w", err)
		}
		*stops = append(*stops, func() error {
			if err := stop(); err != nil {
				return fmt.Errorf("manager: %w", err)
			}
			return nil
		})
		e.Manager = mgr
	}
	if s.Setup == nil {
		return nil
	}
	cleanup, err := s.Setup(e)
	if cleanup != nil {
		*stops = append(*stops, func() error { cleanup(); return nil })
	}
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	return nil
}
