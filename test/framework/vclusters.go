package framework

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// WaitForVClusterReady waits until the vcluster is Ready and returns it.
// It fails at once, with the reason, if the vcluster is Failed.
func WaitForVClusterReady(ctx context.Context, mgmt client.Client, key client.ObjectKey, timeout time.Duration) *fleetv1.VirtualCluster {
	vc := &fleetv1.VirtualCluster{}
	Eventually(func(g Gomega) {
		g.Expect(mgmt.Get(ctx, key, vc)).To(Succeed())
		if vc.Status.Phase == fleetv1.PhaseFailed {
			StopTrying("vcluster " + key.String() + " failed").Wrap(conditionsError(vc)).Now()
		}
		g.Expect(vc.Status.Phase).To(Equal(fleetv1.PhaseReady), "conditions: %v", vc.Status.Conditions)
	}).WithContext(ctx).WithTimeout(timeout).WithPolling(200 * time.Millisecond).Should(Succeed())
	return vc
}

type condErr struct{ msg string }

func (e condErr) Error() string { return e.msg }

func conditionsError(vc *fleetv1.VirtualCluster) error {
	var parts []string
	for _, c := range vc.Status.Conditions {
		parts = append(parts, c.Type+"="+string(c.Status)+" "+c.Reason+": "+c.Message)
	}
	return condErr{strings.Join(parts, "; ")}
}

// VClusterConfig reads the tenant's kubeconfig of a Ready vcluster.
func VClusterConfig(ctx context.Context, mgmt client.Client, vc *fleetv1.VirtualCluster) *rest.Config {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(VClusterKubeconfig(ctx, mgmt, vc))
	Expect(err).NotTo(HaveOccurred())
	return cfg
}

// VClusterKubeconfig is the kubeconfig the hub hands the tenant of vc.
func VClusterKubeconfig(ctx context.Context, mgmt client.Client, vc *fleetv1.VirtualCluster) []byte {
	secret := &corev1.Secret{}
	Expect(mgmt.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: vc.Status.KubeconfigSecret}, secret)).To(Succeed())
	return secret.Data[fleetv1.KubeconfigKey]
}

// VClusterClients are a tenant's typed and dynamic clients.
func VClusterClients(cfg *rest.Config) (kubernetes.Interface, dynamic.Interface) {
	kube, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	dyn, err := dynamic.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	return kube, dyn
}

// ChildPid returns the pid of a live process whose command line starts with
// an executable named exe and mentions dir, or 0.
func ChildPid(exe, dir string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == exe && strings.Contains(string(cmdline), dir) && Alive([]int{pid}) != nil {
			return pid
		}
	}
	return 0
}

// Condition returns the vcluster's condition of type t, or nil.
func Condition(vc *fleetv1.VirtualCluster, t string) *metav1.Condition {
	return meta.FindStatusCondition(vc.Status.Conditions, t)
}
