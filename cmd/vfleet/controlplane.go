package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/vfleet/vfleet/controlplane"
)

func newControlPlaneCommand() *cobra.Command {
	var (
		cfg controlplane.Config
		// Set by the kubernetes runtime: the control plane runs in a pod.
		publishSecret, publishServer string
		binRoot                      string
		version                      string
	)
	cmd := &cobra.Command{
		Use:   "controlplane",
		Short: "Run one vcluster's control plane: kine, kube-apiserver, kube-controller-manager",
		Long: `Run one vcluster's control plane until interrupted. The agent starts one per
ControlPlane object; run by hand it serves a vcluster from --data-dir, whose
admin kubeconfig it writes to <data-dir>/admin.kubeconfig once ready.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.DataDir == "" {
				return errors.New("--data-dir is required")
			}
			abs, err := filepath.Abs(cfg.DataDir)
			if err != nil {
				return err
			}
			cfg.DataDir = abs
			cfg.BinDir = filepath.Join(binRoot, version)
			if cfg.Backend == "" {
				// The agent passes a store's credentials this way, not
				// on the command line where any user could read them.
				cfg.Backend = os.Getenv("VFLEET_BACKEND")
			}
			if cfg.Backend == "" {
				cfg.Backend = controlplane.EmbeddedBackend(cfg.DataDir)
			}
			cfg.Log = cmd.OutOrStdout()
			// This process holds kine and the SQLite driver: most of its
			// heap after start is garbage. Bound it as the children are
			// bounded, unless the environment says otherwise.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(50)
			}
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(48 << 20)
			}
			cp, err := controlplane.New(cfg)
			if err != nil {
				return err
			}
			if publishSecret != "" {
				go func() {
					select {
					case <-cp.Ready():
					case <-cmd.Context().Done():
						return
					}
					host, err := rest.InClusterConfig()
					if err != nil {
						fmt.Fprintf(cfg.Log, "cannot publish the kubeconfig: %v\n", err)
						return
					}
					_ = cp.Publish(cmd.Context(), host, os.Getenv("POD_NAMESPACE"), publishSecret, publishServer)
				}()
			}
			return cp.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Name, "name", "vcluster", "name of the vcluster, used in its certificates")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the vcluster's PKI, logs and Embedded database")
	f.StringVar(&cfg.Address, "address", "127.0.0.1", "IP address the vcluster's apiserver listens and is reached at")
	f.IntVar(&cfg.Port, "port", 6443, "port of the vcluster's apiserver")
	f.StringVar(&cfg.Lifeline, "lifeline", "", "lock file the agent holds while it runs; the control plane stops once the agent is gone for --orphan-grace")
	f.DurationVar(&cfg.OrphanGrace, "orphan-grace", time.Minute, "how long the control plane outlives its agent")
	f.StringVar(&cfg.Backend, "backend", "", "kine endpoint of an External store (default: SQLite in --data-dir)")
	f.StringVar(&publishSecret, "publish-kubeconfig-secret", "", "in a pod: write the admin kubeconfig into this Secret of the pod's namespace ($POD_NAMESPACE)")
	f.StringVar(&publishServer, "publish-server", "", "server address of the published kubeconfig, for example https://vfleet-apiserver.ns.svc")
	f.StringSliceVar(&cfg.SANs, "san", nil, "further names or addresses for the apiserver's certificate")
	f.StringVar(&binRoot, "bin-root", filepath.Dir(defaultBinDir()), "directory with one subdirectory of binaries per Kubernetes version")
	f.StringVar(&version, "kubernetes-version", filepath.Base(defaultBinDir()), "Kubernetes version of the control plane")
	return cmd
}
