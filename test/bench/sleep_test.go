package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/builder"
)

// wakes is how many times BenchmarkWake lets its vcluster fall asleep and
// wakes it with a request.
const wakes = 5

// BenchmarkWake measures, on a lab of one host, how long the first
// request to a vcluster asleep for inactivity takes to be answered
// through the region's gateway, with the kubeconfig the tenant holds: the
// gateway holds it, renews the vcluster's activity Lease, the hub wakes
// the vcluster, its agent starts the control plane, and the gateway sends
// the request on. It also counts the vcluster's processes while asleep.
func BenchmarkWake(b *testing.B) {
	vfleet := goBuild(b, b.TempDir(), "github.com/vfleet/vfleet/cmd/vfleet")
	l := startLab(b, lab.DefaultHosts(1, 1), vfleet)
	mgmt := hubClient(b, l)
	ctx := context.Background()
	vc := builder.MakeVirtualCluster("default", "sleeper").CPU("1").Memory("1Gi").Obj()
	vc.Spec.Sleep = &fleetv1.SleepPolicy{AfterInactivity: &metav1.Duration{Duration: 30 * time.Second}}
	if err := mgmt.Create(ctx, vc); err != nil {
		b.Fatal(err)
	}
	vc = waitEpochReady(b, mgmt, vc, 1)
	secret := &corev1.Secret{}
	if err := mgmt.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: virtualcluster.KubeconfigSecretName(vc)}, secret); err != nil {
		b.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(secret.Data[fleetv1.KubeconfigKey])
	if err != nil {
		b.Fatal(err)
	}
	kube := kubernetes.NewForConfigOrDie(cfg)
	host := l.Host(vc.Status.Host)

	var took []time.Duration
	for range wakes {
		deadline := time.Now().Add(3 * time.Minute)
		for {
			got := &fleetv1.VirtualCluster{}
			if err := mgmt.Get(ctx, client.ObjectKeyFromObject(vc), got); err == nil && got.Status.Phase == fleetv1.PhaseSleeping && len(host.ControlPlanePids()) == 0 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("the vcluster did not fall asleep, with no process, within 3 minutes")
			}
			time.Sleep(200 * time.Millisecond)
		}
		start := time.Now()
		if _, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
			b.Fatalf("the first request to the sleeping vcluster: %v", err)
		}
		took = append(took, time.Since(start))
		fmt.Printf("wake %d: first request answered in %s\n", len(took), took[len(took)-1].Round(10*time.Millisecond))
	}
	fmt.Printf("\n== wake benchmark (1 host of 1 kwok node, Embedded store, afterInactivity 30s, %d CPUs)\n", numCPU())
	fmt.Printf("first request to a vcluster asleep for inactivity, through the gateway (%d wakes): p50 %s, p95 %s; processes while asleep: 0\n",
		len(took), pct(took, 50), pct(took, 95))
	b.ReportMetric(pct(took, 50).Seconds(), "wake-p50-s")
}
