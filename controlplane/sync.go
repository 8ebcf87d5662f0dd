package controlplane

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/syncer/kubeletproxy"
	"github.com/vfleet/vfleet/syncer/resources"
)

// runSyncer runs the vcluster's syncer in this process until ctx ends,
// starting it again with backoff if it stops on an error (the host
// unreachable when it started, say), and at once when its credentials
// were renewed.
func (cp *ControlPlane) runSyncer(ctx context.Context, kubelet net.Listener, dns *syncer.Endpoint) {
	sc := cp.cfg.Sync
	backoff := time.Second
	var firstSync sync.Once
	start := time.Now()
	synced := func() { firstSync.Do(func() { cp.recordSpan(ctx, spanFirstSync, start, nil) }) }
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
		err := cp.syncOnce(run, sc, kubelet, dns, synced)
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

func (cp *ControlPlane) syncOnce(ctx context.Context, sc *SyncConfig, kubelet net.Listener, dns *syncer.Endpoint, synced func()) error {
	virtual, err := kubeconfig.RESTConfig(cp.Kubeconfig())
	if err != nil {
		return err
	}
	host, err := hostConfig(sc)
	if err != nil {
		return err
	}
	var endpoint *syncer.Endpoint
	if kubelet != nil {
		addr := kubelet.Addr().(*net.TCPAddr)
		endpoint = &syncer.Endpoint{Address: addr.IP.String(), Port: addr.Port}
	}
	fmt.Fprintf(cp.cfg.Log, "syncer of %s: syncing with host namespace %s\n", cp.cfg.Name, sc.HostNamespace)
	return syncer.Run(ctrl.LoggerInto(ctx, ctrl.Log.WithName("syncer")), syncer.Config{
		Virtual: virtual, Host: host, HostNamespace: sc.HostNamespace, VCluster: sc.VCluster, Isolation: sc.Isolation,
		APIServerHost: cp.cfg.Address, APIServerPort: cp.cfg.Port, ServiceCIDR: cp.cfg.ServiceCIDR,
		SyncAllConfigMaps: sc.SyncAllConfigMaps, SyncAllSecrets: sc.SyncAllSecrets, Kubelet: endpoint, DNS: dns,
		HostsFileImage: sc.HostsFileImage,
		Resources:      resources.All(), Controllers: resources.Controllers(), Synced: synced,
	})
}

// hostConfig reaches the host with the syncer's credentials.
func hostConfig(sc *SyncConfig) (*rest.Config, error) {
	var host *rest.Config
	var err error
	if sc.HostKubeconfig == "" {
		host, err = rest.InClusterConfig()
	} else {
		// Read again on every request: the agent renews the token in the
		// file.
		host, err = kubeconfig.RESTConfig(sc.HostKubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("host credentials: %w", err)
	}
	return host, nil
}

// runKubeletProxy serves the vcluster's nodes' kubelet API on l until ctx
// ends (kubeletproxy), starting again with backoff if it fails.
func (cp *ControlPlane) runKubeletProxy(ctx context.Context, l net.Listener) {
	defer func() { _ = l.Close() }()
	backoff := time.Second
	for ctx.Err() == nil {
		err := cp.serveKubeletProxy(ctx, l)
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintf(cp.cfg.Log, "kubelet proxy of %s stopped: %v; starting it again in %s\n", cp.cfg.Name, err, backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (cp *ControlPlane) serveKubeletProxy(ctx context.Context, l net.Listener) error {
	sc := cp.cfg.Sync
	host, err := hostConfig(sc)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(cp.pki("ca.crt"))
	if err != nil {
		return err
	}
	srv, err := kubeletproxy.New(kubeletproxy.Config{
		Host: host, HostNamespace: sc.HostNamespace, VCluster: sc.VCluster.Name,
		ServingCert: cp.pki("kubelet-proxy.crt"), ServingKey: cp.pki("kubelet-proxy.key"),
		ClientCA: ca, ClientName: KubeletClientUser,
	})
	if err != nil {
		return err
	}
	return srv.Serve(ctx, keepOpen{Listener: l, ctx: ctx})
}

// keepOpen keeps the listener open when one server on it stops for a
// reason of its own, for the next. Once ctx has ended it closes: a
// server's Shutdown waits for its accept loop to end, which only a closed
// listener does, and the whole control plane's stop waited with it until
// the agent killed it.
type keepOpen struct {
	net.Listener
	ctx context.Context
}

func (k keepOpen) Close() error {
	if k.ctx.Err() == nil {
		return nil
	}
	return k.Listener.Close()
}
