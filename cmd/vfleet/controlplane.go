package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/vfleet/vfleet/controlplane"
	"github.com/vfleet/vfleet/controlplane/launch"
	"github.com/vfleet/vfleet/stores"
	"github.com/vfleet/vfleet/syncer"
)

func newControlPlaneCommand() *cobra.Command {
	cfg := launch.NewConfig()
	cfg.BinRoot, cfg.KubernetesVersion = filepath.Dir(defaultBinDir()), filepath.Base(defaultBinDir())
	cmd := &cobra.Command{
		Use:   launch.Command,
		Short: "Run one vcluster's control plane: kine, kube-apiserver, kube-controller-manager",
		Long: `Run one vcluster's control plane until interrupted. The agent starts one per
ControlPlane object; run by hand it serves a vcluster from --data-dir, whose
admin kubeconfig it writes to <data-dir>/` + launch.AdminKubeconfigFile + ` once ready.`,
		Args: cobra.NoArgs,
	}
	setupLog := addLogFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		setupLog()
		cfg.TakeEnv()
		cpCfg, err := controlPlaneConfig(cfg)
		if err != nil {
			return err
		}
		cpCfg.Log = cmd.OutOrStdout()
		// This process holds kine and the SQLite driver: most of its
		// heap after start is garbage. Bound it as the children are
		// bounded, unless the environment says otherwise.
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(50)
		}
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(48 << 20)
		}
		cp, err := controlplane.New(cpCfg)
		if err != nil {
			return err
		}
		if cfg.PublishSecret != "" {
			go func() {
				select {
				case <-cp.Ready():
				case <-cmd.Context().Done():
					return
				}
				host, err := rest.InClusterConfig()
				if err != nil {
					fmt.Fprintf(cpCfg.Log, "cannot publish the kubeconfig: %v\n", err)
					return
				}
				// Again each time its certificate is renewed.
				for {
					_ = cp.Publish(cmd.Context(), host, cfg.PodNamespace, cfg.PublishSecret, cfg.PublishServer)
					select {
					case <-cp.KubeconfigChanged():
					case <-cmd.Context().Done():
						return
					}
				}
			}()
		}
		return traced(cmd.Context(), "vfleet-controlplane", func() error { return cp.Run(cmd.Context()) })
	}
	cfg.AddFlags(cmd.Flags())
	return cmd
}

// controlPlaneConfig is the control plane the command's settings describe.
func controlPlaneConfig(l launch.Config) (controlplane.Config, error) {
	if l.DataDir == "" {
		return controlplane.Config{}, errors.New("--data-dir is required")
	}
	dataDir, err := filepath.Abs(l.DataDir)
	if err != nil {
		return controlplane.Config{}, err
	}
	cfg := controlplane.Config{
		Name: l.Name, DataDir: dataDir, BinDir: filepath.Join(l.BinRoot, l.KubernetesVersion), Backend: l.Backend,
		Address: l.Address, Port: l.Port, SANs: l.SANs, Lifeline: l.Lifeline, OrphanGrace: l.OrphanGrace, ServiceCIDR: l.ServiceCIDR,
		Traceparent: l.Traceparent, IdentityDir: l.IdentityDir,
	}
	if cfg.Backend == "" {
		cfg.Backend = stores.EmbeddedBackend(dataDir)
	}
	if s := l.Syncer; s.HostNamespace != "" {
		if s.VClusterUID == "" {
			return controlplane.Config{}, errors.New("--host-namespace needs --vcluster-uid: the syncer marks host objects with it")
		}
		cfg.Sync = &controlplane.SyncConfig{
			HostKubeconfig: s.HostKubeconfig, HostNamespace: s.HostNamespace,
			VCluster:  syncer.Identity{Name: l.Name, Namespace: s.VClusterNamespace, UID: s.VClusterUID},
			Isolation: s.Isolation, SyncAllConfigMaps: s.SyncAllConfigMaps, SyncAllSecrets: s.SyncAllSecrets,
			HostsFileImage: s.HostsFileImage,
			DNS:            l.DNS, DNSUpstreams: l.DNSUpstreams,
		}
	} else if l.DNS != "" {
		return controlplane.Config{}, errors.New("--dns needs --host-namespace: pods reach the DNS server through a Service the syncer makes on the host")
	}
	return cfg, nil
}
