package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/builder"
)

// syncPods is how many pods each side runs.
const syncPods = 1000

// BenchmarkSyncer times syncPods pods created in a vcluster until all are
// Running in the vcluster, and the same pods created directly on the host
// until all are Running there, in one run on one lab host, and gives the
// ratio (issue 6's target: at most 1.3).
func BenchmarkSyncer(b *testing.B) {
	ctx := context.Background()
	vfleet := goBuild(b, b.TempDir(), "github.com/vfleet/vfleet/cmd/vfleet")
	hosts := lab.DefaultHosts(1, 4)
	hosts[0].Node = lab.NodeCapacity{CPU: resource.MustParse("64"), Memory: resource.MustParse("256Gi"), Pods: 300}
	l := startLab(b, hosts, vfleet)
	hostKube, err := l.Hosts()[0].Client()
	if err != nil {
		b.Fatal(err)
	}
	mgmt := hubClient(b, l)
	vc := builder.MakeVirtualCluster("default", "bench").CPU("60").Memory("200Gi").Obj()
	vc.Spec.Resources.Pods = syncPods + 100
	if err := mgmt.Create(ctx, vc); err != nil {
		b.Fatal(err)
	}
	tenantKube := waitTenant(b, mgmt, vc)

	// Host first, then the vcluster, then the host again: a drift in the
	// machine's load shows as a difference between the two host runs.
	direct1 := runPods(b, hostKube, "direct-1")
	virtual := runPods(b, tenantKube, "default")
	direct2 := runPods(b, hostKube, "direct-2")
	direct := (direct1 + direct2) / 2
	fmt.Printf("\n== syncer benchmark (%d pods, 1 host of 4 kwok nodes, %d CPUs)\n", syncPods, numCPU())
	fmt.Printf("directly on the host:   %s and %s\n", direct1.Round(10*time.Millisecond), direct2.Round(10*time.Millisecond))
	fmt.Printf("in the vcluster:        %s\n", virtual.Round(10*time.Millisecond))
	fmt.Printf("ratio vcluster / host:  %.2f\n", virtual.Seconds()/direct.Seconds())
	b.ReportMetric(virtual.Seconds()/direct.Seconds(), "ratio")
	b.ReportMetric(virtual.Seconds(), "vcluster-s")
	b.ReportMetric(direct.Seconds(), "host-s")
}

// waitTenant waits for the vcluster and its default account, and returns a
// client of it.
func waitTenant(b *testing.B, mgmt client.Client, vc *fleetv1.VirtualCluster) kubernetes.Interface {
	ctx := context.Background()
	deadline := time.Now().Add(3 * time.Minute)
	for vc.Status.Phase != fleetv1.PhaseReady {
		if time.Now().After(deadline) {
			b.Fatalf("vcluster not Ready: %+v", vc.Status.Conditions)
		}
		time.Sleep(100 * time.Millisecond)
		if err := mgmt.Get(ctx, client.ObjectKeyFromObject(vc), vc); err != nil {
			b.Fatal(err)
		}
	}
	secret := &corev1.Secret{}
	if err := mgmt.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: vc.Status.KubeconfigSecret}, secret); err != nil {
		b.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(secret.Data[fleetv1.KubeconfigKey])
	if err != nil {
		b.Fatal(err)
	}
	kube := fastClient(b, cfg)
	for {
		if _, err := kube.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return kube
		}
		if time.Now().After(deadline) {
			b.Fatal("the vcluster's default service account never appeared")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fastClient(b *testing.B, cfg *rest.Config) kubernetes.Interface {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return kube
}

// runPods creates syncPods pods in namespace, 32 at a time, and returns the
// time from the first Create until all are Running; then deletes them and
// waits until they are gone.
func runPods(b *testing.B, kube kubernetes.Interface, namespace string) time.Duration {
	ctx := context.Background()
	if namespace != "default" {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "bench=syncer" }))
	informer := factory.Core().V1().Pods().Informer()
	store := informer.GetStore()
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	start := time.Now()
	names := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, syncPods)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range names {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%04d", i), Labels: map[string]string{"bench": "syncer"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}}}}},
				}
				if _, err := kube.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range syncPods {
		names <- i
	}
	close(names)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	// Count from a watch, as a client would: polling lists of a thousand
	// pods would load the API servers it measures.
	deadline := time.Now().Add(10 * time.Minute)
	for {
		running := 0
		for _, obj := range store.List() {
			if obj.(*corev1.Pod).Status.Phase == corev1.PodRunning {
				running++
			}
		}
		if running == syncPods {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d pods Running in %s after 10 minutes", running, syncPods, namespace)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	if err := kube.CoreV1().Pods(namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "bench=syncer"}); err != nil {
		b.Fatal(err)
	}
	for {
		if len(store.List()) == 0 {
			return took
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d pods still in %s", len(store.List()), namespace)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
