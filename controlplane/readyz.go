package controlplane

import (
	"context"
	"fmt"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/vfleet/vfleet/internal/kubeconfig"
)

// bootstrapChecks are the apiserver's readiness checks that wait for it to
// make its default objects in the store: the RBAC roles and bindings and
// the system priority classes. Over a store they were made in before,
// they only read each object again, a second and more of every start
// through kine, and a start does not wait for them: the objects the
// vcluster needs are there, and the apiserver goes on mending any that is
// missing.
var bootstrapChecks = []string{
	"poststarthook/rbac/bootstrap-roles",
	"poststarthook/scheduling/bootstrap-system-priority-classes",
}

// annotationBootstrapped on the vcluster's kube-system Namespace is the
// version of the apiserver that last made the default objects there. It
// is kept in the store itself, so that a start on any host (a wake, a
// failover, a migration) knows. A tenant who changes it only makes its
// own control plane's start wait, or not, for checks whose work goes on
// either way.
const annotationBootstrapped = "fleet.vfleet.dev/bootstrapped"

// skippedChecks are the readiness checks a start of an apiserver of
// version serving leaves out, the store's objects having been made by one
// of version recorded ("" when none was).
func skippedChecks(recorded, serving string) []string {
	if recorded == "" || recorded != serving {
		return nil
	}
	return bootstrapChecks
}

// waitReady polls /readyz until it answers, then writes the admin
// kubeconfig where users and the agent find it. Once the apiserver answers
// at all, it reads whether the store has its default objects from this
// version already: if so, it leaves bootstrapChecks out; if not, it waits
// for every check and records it.
func (cp *ControlPlane) waitReady(ctx context.Context) error {
	cfg, err := kubeconfig.RESTConfig(cp.pki(kubeconfigAdmin))
	if err != nil {
		return err
	}
	cfg.Timeout = 2 * time.Second
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var skip []string
	serving := ""
	for {
		select {
		case err := <-cp.failed:
			return err
		default:
		}
		if serving == "" {
			// The admin's reads need no RBAC: they are answered before
			// the apiserver is ready.
			var recorded string
			if serving, recorded = bootstrapState(ctx, kube); serving != "" {
				skip = skippedChecks(recorded, serving)
			}
			if skip != nil {
				fmt.Fprintf(cp.cfg.Log, "control plane %s: its store has the default objects of %s already; not waiting for them\n", cp.cfg.Name, serving)
			}
		}
		if err := readyz(ctx, kube, skip...); err == nil {
			if serving != "" && skip == nil {
				if err := recordBootstrap(ctx, kube, serving); err != nil {
					fmt.Fprintf(cp.cfg.Log, "control plane %s: cannot record that its store has its default objects (the next start waits for them again): %v\n", cp.cfg.Name, err)
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

// bootstrapState is the serving apiserver's version and the one recorded
// on kube-system; serving is "" while the apiserver does not answer.
func bootstrapState(ctx context.Context, kube kubernetes.Interface) (serving, recorded string) {
	v, err := kube.Discovery().ServerVersion()
	if err != nil {
		return "", ""
	}
	ns, err := kube.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		// A store the apiserver has not bootstrapped yet.
		return v.GitVersion, ""
	case err != nil:
		return "", ""
	}
	return v.GitVersion, ns.Annotations[annotationBootstrapped]
}

// recordBootstrap records on kube-system that the apiserver of version
// made the store's default objects.
func recordBootstrap(ctx context.Context, kube kubernetes.Interface, version string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, annotationBootstrapped, version)
	_, err := kube.CoreV1().Namespaces().Patch(ctx, metav1.NamespaceSystem, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// readyz asks the apiserver whether it is ready, leaving out the checks
// named in exclude.
func readyz(ctx context.Context, kube kubernetes.Interface, exclude ...string) error {
	req := kube.Discovery().RESTClient().Get().AbsPath("/readyz")
	for _, check := range exclude {
		req = req.Param("exclude", check)
	}
	_, err := req.DoRaw(ctx)
	return err
}
