package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vfleet/vfleet/internal/kubeconfig"
)

// bootstrapChecks are the apiserver's readiness checks that wait for it to
// make its default objects in the store: the RBAC roles and bindings and
// the system priority classes. Over a store they were made in before,
// they only read each object again, a second and more of a wake through
// kine, and a start does not wait for them: the objects the vcluster
// needs are there, and the apiserver goes on mending any that is missing.
var bootstrapChecks = []string{
	"poststarthook/rbac/bootstrap-roles",
	"poststarthook/scheduling/bootstrap-system-priority-classes",
}

// bootstrappedFile records, in the data directory, which apiserver made
// the default objects in which store: a start of the same binaries over
// the same backend skips bootstrapChecks.
const bootstrappedFile = "bootstrapped"

// bootstrapMark names this control plane's apiserver binaries and store.
func (cp *ControlPlane) bootstrapMark() string {
	sum := sha256.Sum256([]byte(cp.cfg.BinDir + "\n" + cp.cfg.Backend))
	return hex.EncodeToString(sum[:])
}

// bootstrapped is whether the default objects are in the store already.
func (cp *ControlPlane) bootstrapped() bool {
	data, err := os.ReadFile(filepath.Join(cp.cfg.DataDir, bootstrappedFile))
	return err == nil && string(data) == cp.bootstrapMark()
}

// waitReady polls /readyz until it answers, then writes the admin
// kubeconfig where users and the agent find it. A first start over its
// store waits for every check, and records that the store has its default
// objects; later ones leave out bootstrapChecks.
func (cp *ControlPlane) waitReady(ctx context.Context) error {
	cfg, err := kubeconfig.RESTConfig(cp.pki(kubeconfigAdmin))
	if err != nil {
		return err
	}
	var exclude []string
	first := !cp.bootstrapped()
	if !first {
		exclude = bootstrapChecks
	}
	for {
		select {
		case err := <-cp.failed:
			return err
		default:
		}
		if err := readyz(ctx, cfg, exclude...); err == nil {
			if first {
				if err := os.WriteFile(filepath.Join(cp.cfg.DataDir, bootstrappedFile), []byte(cp.bootstrapMark()), 0o600); err != nil {
					return err
				}
			}
			data, err := os.ReadFile(cp.pki(kubeconfigAdmin))
			if err != nil {
				return err
			}
			return os.WriteFile(cp.Kubeconfig(), data, 0o600)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-cp.failed:
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// readyz asks the apiserver whether it is ready, leaving out the checks
// named in exclude.
func readyz(ctx context.Context, cfg *rest.Config, exclude ...string) error {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 2 * time.Second
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	req := kube.Discovery().RESTClient().Get().AbsPath("/readyz")
	for _, check := range exclude {
		req = req.Param("exclude", check)
	}
	_, err = req.DoRaw(ctx)
	return err
}
