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

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controlplane"
	"github.com/vfleet/vfleet/stores"
)

func newControlPlaneCommand() *cobra.Command {
	var (
		cfg controlplane.Config
		// Set by the kubernetes runtime: the control plane runs in a pod.
		publishSecret, publishServer string
		sync                         controlplane.SyncConfig
		podSecurity                  string
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
	}
	setupLog := addLogFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		setupLog()
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
			cfg.Backend = stores.EmbeddedBackend(cfg.DataDir)
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
		if sync.HostNamespace != "" {
			if sync.VCluster.UID == "" {
				return errors.New("--host-namespace needs --vcluster-uid: the syncer marks host objects with it")
			}
			sync.VCluster.Name = cfg.Name
			sync.Isolation.PodSecurity = fleetv1.PodSecurityLevel(podSecurity)
			cfg.Sync = &sync
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
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", "10.96.0.0/16", "the vcluster's Service range; the host's, so that host ClusterIPs fit")
	f.StringVar(&sync.HostNamespace, "host-namespace", "", "run the syncer into this namespace of the host (off when empty)")
	f.StringVar(&sync.HostKubeconfig, "host-kubeconfig", "", "kubeconfig of the host for the syncer (default: in-cluster)")
	f.StringVar(&sync.VCluster.Namespace, "vcluster-namespace", "", "namespace of the VirtualCluster on the management cluster")
	f.StringVar(&sync.VCluster.UID, "vcluster-uid", "", "UID of the VirtualCluster; host objects are marked with it")
	f.StringVar(&podSecurity, "pod-security", string(fleetv1.PodSecurityBaseline), "Pod Security level pods must meet to reach the host: Baseline or Restricted")
	f.BoolVar(&sync.Isolation.AllowNodePorts, "allow-node-ports", false, "let Services of type NodePort and LoadBalancer reach the host")
	f.BoolVar(&sync.Isolation.AllowExternalIPs, "allow-external-ips", false, "let Services with externalIPs reach the host")
	f.BoolVar(&sync.SyncAllConfigMaps, "sync-all-configmaps", false, "copy every ConfigMap to the host, not only those pods use")
	f.BoolVar(&sync.SyncAllSecrets, "sync-all-secrets", false, "copy every Secret to the host, not only those pods use")
	f.StringSliceVar(&cfg.SANs, "san", nil, "further names or addresses for the apiserver's certificate")
	f.StringVar(&binRoot, "bin-root", filepath.Dir(defaultBinDir()), "directory with one subdirectory of binaries per Kubernetes version")
	f.StringVar(&version, "kubernetes-version", filepath.Base(defaultBinDir()), "Kubernetes version of the control plane")
	return cmd
}
