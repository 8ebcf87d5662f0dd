package controlplane

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/syncer/resources"
)

// runSyncer runs the vcluster's syncer in this process until ctx ends,
// starting it again with backoff if it stops on an error (the host
// unreachable when it started, say), and at once when its credentials
// were renewed.
func (cp *ControlPlane) runSyncer(ctx context.Context) {
	sc := cp.cfg.Sync
	backoff := time.Second
	for ctx.Err() == nil {
		run, stop := context.WithCancel(ctx)
		renewed := make(chan struct{})
		go func() {
			select {
			case <-cp.resync:
				close(renewed)
				stop()
			case <-run.Done():
			}
		}()
		err := cp.syncOnce(run, sc)
		stop()
		if ctx.Err() != nil {
			return
		}
		select {
		case <-renewed:
			// Started again at once, on the renewed admin credentials.
			fmt.Fprintf(cp.cfg.Log, "syncer of %s: starting again with renewed credentials\n", cp.cfg.Name)
			continue
		default:
		}
		fmt.Fprintf(cp.cfg.Log, "syncer of %s stopped: %v; starting it again in %s\n", cp.cfg.Name, err, backoff)
		cp.setStatus(func(s *Status) { s.Message = "syncer: " + err.Error() })
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (cp *ControlPlane) syncOnce(ctx context.Context, sc *SyncConfig) error {
	virtual, err := kubeconfig.RESTConfig(cp.Kubeconfig())
	if err != nil {
		return err
	}
	var host *rest.Config
	if sc.HostKubeconfig == "" {
		host, err = rest.InClusterConfig()
	} else {
		// Read again on every request: the agent renews the token in the
		// file.
		host, err = kubeconfig.RESTConfig(sc.HostKubeconfig)
	}
	if err != nil {
		return fmt.Errorf("host credentials: %w", err)
	}
	fmt.Fprintf(cp.cfg.Log, "syncer of %s: syncing with host namespace %s\n", cp.cfg.Name, sc.HostNamespace)
	return syncer.Run(ctrl.LoggerInto(ctx, ctrl.Log.WithName("syncer")), syncer.Config{
		Virtual: virtual, Host: host, HostNamespace: sc.HostNamespace, VCluster: sc.VCluster, Isolation: sc.Isolation,
		APIServerHost: cp.cfg.Address, APIServerPort: cp.cfg.Port, ServiceCIDR: cp.cfg.ServiceCIDR,
		SyncAllConfigMaps: sc.SyncAllConfigMaps, SyncAllSecrets: sc.SyncAllSecrets,
		Resources: resources.All(), Controllers: resources.Controllers(),
	})
}
