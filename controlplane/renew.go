package controlplane

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// renewCheck is how often a running control plane looks at its
// certificates. They are due in the last quarter of their year, so an
// hour is early enough by months.
const renewCheck = time.Hour

// keepCertificates renews the control plane's certificates in time, from
// when it is ready until ctx ends.
func (cp *ControlPlane) keepCertificates(ctx context.Context) {
	tick := time.NewTicker(renewCheck)
	defer tick.Stop()
	for {
		if _, err := cp.renew(ctx, time.Now()); err != nil {
			fmt.Fprintf(cp.cfg.Log, "control plane %s: renew certificates: %v\n", cp.cfg.Name, err)
			cp.setStatus(func(s *Status) { s.Message = "renew certificates: " + err.Error() })
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// renew renews the certificates due at now, and has each of their users
// take the new one up: the apiserver reloads its serving and front-proxy
// pairs by itself; the controller-manager is started again on its new
// identity; the syncer on the admin's; and the published admin kubeconfig
// is written again, for the agent (or Publish) to hand out. Kubeconfigs
// handed out before keep working until their own certificate expires: the
// CA is the same.
func (cp *ControlPlane) renew(ctx context.Context, now time.Time) ([]string, error) {
	renewed, err := cp.renewCertificates(now)
	if len(renewed) > 0 {
		fmt.Fprintf(cp.cfg.Log, "control plane %s: renewed certificates %s\n", cp.cfg.Name, strings.Join(renewed, ", "))
	}
	for _, name := range renewed {
		switch name {
		case "admin":
			data, rerr := os.ReadFile(cp.pki(kubeconfigAdmin))
			if rerr == nil {
				rerr = os.WriteFile(cp.Kubeconfig(), data, 0o600)
			}
			if rerr != nil {
				return renewed, rerr
			}
			signal(cp.kubeconfigChanged)
			signal(cp.resync)
		case "controller-manager":
			cp.restart(ctx, "kube-controller-manager")
		case "dns":
			cp.restart(ctx, dnsProcess)
		}
	}
	return renewed, err
}

// KubeconfigChanged receives when the admin kubeconfig was written again
// (its certificate renewed), for whoever hands it out to do so again.
func (cp *ControlPlane) KubeconfigChanged() <-chan struct{} { return cp.kubeconfigChanged }

// restart stops a running process for its supervisor to start it again at
// once: planned, so no crash.
func (cp *ControlPlane) restart(ctx context.Context, name string) {
	cp.mu.Lock()
	p := cp.procs[name]
	if p != nil {
		cp.planned[name] = true
	}
	cp.mu.Unlock()
	if p != nil {
		cp.stopProcess(ctx, name, p)
	}
}

// takePlanned reports, once, whether name's last exit was a planned restart.
func (cp *ControlPlane) takePlanned(name string) bool {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	planned := cp.planned[name]
	delete(cp.planned, name)
	return planned
}

// signal wakes whoever waits on ch, without blocking: one wake-up covers
// any number of changes.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
