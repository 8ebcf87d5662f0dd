package vcluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/internal/names"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/framework"
)

var widgets = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}

func widgetCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptrTrue(),
				}},
			}},
		},
	}
}

func ptrTrue() *bool { t := true; return &t }

// controlPlaneDir is where the vcluster's host keeps its control plane.
func controlPlaneDir(vc *fleetv1.VirtualCluster) string {
	return filepath.Join(suite.Lab.Dir(), vc.Status.Host, "agent", "controlplanes", virtualcluster.ControlPlaneName(vc))
}

func hostClient(host string) *apiextensions.Clientset {
	cfg, err := suite.Lab.Host(host).RESTConfig()
	Expect(err).NotTo(HaveOccurred())
	c, err := apiextensions.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	return c
}

// leftovers is what a vcluster has on its host, to check that deletion
// leaves none of it.
type leftovers struct {
	host, namespace, dir string
	pids                 []int
}

func leftoversOf(vc *fleetv1.VirtualCluster) leftovers {
	dir := controlPlaneDir(vc)
	l := leftovers{host: vc.Status.Host, namespace: names.VClusterNamespace(vc.Namespace, vc.Name), dir: dir, pids: framework.ProcessesUsing(dir)}
	Expect(l.pids).NotTo(BeEmpty(), "vcluster %s runs no process in %s", vc.Name, dir)
	return l
}

// expectNoLeftovers waits until none of l is left: no process, no data
// directory, no host namespace.
func expectNoLeftovers(ctx context.Context, l leftovers) {
	Expect(framework.Alive(l.pids)).To(BeEmpty(), "processes outlived their vcluster")
	Expect(framework.ProcessesUsing(l.dir)).To(BeEmpty())
	_, err := os.Stat(l.dir)
	Expect(os.IsNotExist(err)).To(BeTrue(), "data directory %s is still there (%v)", l.dir, err)
	host, err := suite.Lab.Host(l.host).Client()
	Expect(err).NotTo(HaveOccurred())
	_, err = host.CoreV1().Namespaces().Get(ctx, l.namespace, metav1.GetOptions{})
	Expect(apierrors.IsNotFound(err)).To(BeTrue(), "host namespace %s is still there (%v)", l.namespace, err)
}

var _ = Describe("A vcluster", Ordered, func() {
	var (
		a, b   *fleetv1.VirtualCluster
		tenant *rest.Config
	)

	It("is created with the CLI and becomes Ready", func(ctx SpecContext) {
		s := vfleet("create", "tenant-a", "--pods", "20", "--wait")
		Expect(s.ExitCode()).To(Equal(0), "stderr: %s", s.Err.Contents())
		Expect(s.Out).To(gbytesSay("virtualcluster.fleet.vfleet.dev/tenant-a ready"))
		Expect(s.Err).To(gbytesSay("Ready"))
		a = framework.WaitForVClusterReady(ctx, suite.Mgmt, client.ObjectKey{Namespace: "default", Name: "tenant-a"}, time.Minute)
		Expect(a.Status.Epoch).To(BeEquivalentTo(1))
		Expect(a.Status.Endpoint).To(HavePrefix("https://127.0.0.1:"))
	}, SpecTimeout(3*time.Minute))

	It("serves its tenant through the kubeconfig connect prints: namespaces, ConfigMaps, CRDs, custom objects", func(ctx SpecContext) {
		s := vfleet("connect", "tenant-a", "--print")
		Expect(s.ExitCode()).To(Equal(0), "stderr: %s", s.Err.Contents())
		var err error
		tenant, err = clientcmd.RESTConfigFromKubeConfig(s.Out.Contents())
		Expect(err).NotTo(HaveOccurred())
		kube, dyn := framework.VClusterClients(tenant)

		nss, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(nss.Items).To(ContainElement(HaveField("Name", "kube-system")))

		_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = kube.CoreV1().ConfigMaps("shop").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"color": "blue"},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())

		ext, err := apiextensions.NewForConfig(tenant)
		Expect(err).NotTo(HaveOccurred())
		_, err = ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, widgetCRD(), metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		widget := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "example.com/v1", "kind": "Widget",
			"metadata": map[string]any{"name": "w1", "namespace": "shop"}, "spec": map[string]any{"size": int64(3)},
		}}
		Eventually(func() error {
			_, err := dyn.Resource(widgets).Namespace("shop").Create(ctx, widget, metav1.CreateOptions{})
			return err
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		got, err := dyn.Resource(widgets).Namespace("shop").Get(ctx, "w1", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Object["spec"]).To(HaveKeyWithValue("size", BeEquivalentTo(3)))
	}, SpecTimeout(time.Minute))

	It("keeps its CRDs to itself: not on its host, not in another vcluster", func(ctx SpecContext) {
		_, err := hostClient(a.Status.Host).ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "widgets.example.com", metav1.GetOptions{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the tenant's CRD reached host %s: %v", a.Status.Host, err)

		vc := builder.MakeVirtualCluster("default", "tenant-b").CPU("1").Memory("1Gi").Obj()
		vc.Spec.Resources.Pods = 20
		Expect(suite.Mgmt.Create(ctx, vc)).To(Succeed())
		b = framework.WaitForVClusterReady(ctx, suite.Mgmt, client.ObjectKeyFromObject(vc), 2*time.Minute)
		ext, err := apiextensions.NewForConfig(framework.VClusterConfig(ctx, suite.Mgmt, b))
		Expect(err).NotTo(HaveOccurred())
		_, err = ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "widgets.example.com", metav1.GetOptions{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "tenant-a's CRD is visible in tenant-b: %v", err)
	}, SpecTimeout(3*time.Minute))

	It("brings a killed kube-apiserver back with its data", func(ctx SpecContext) {
		dir := controlPlaneDir(a)
		pid := framework.ChildPid("kube-apiserver", dir)
		Expect(pid).NotTo(BeZero(), "no kube-apiserver runs for %s", dir)
		Expect(syscall.Kill(pid, syscall.SIGKILL)).To(Succeed())

		kube, _ := framework.VClusterClients(tenant)
		Eventually(func(g Gomega) {
			cm, err := kube.CoreV1().ConfigMaps("shop").Get(ctx, "settings", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cm.Data).To(HaveKeyWithValue("color", "blue"))
			g.Expect(framework.ChildPid("kube-apiserver", dir)).NotTo(Or(BeZero(), Equal(pid)))
		}).WithContext(ctx).WithTimeout(90 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		Eventually(func(g Gomega) {
			cp := &fleetv1.ControlPlane{}
			g.Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(a.Status.Host), Name: virtualcluster.ControlPlaneName(a)}, cp)).To(Succeed())
			g.Expect(cp.Status.Restarts).To(BeNumerically(">=", 1), "the restart is reported in the ControlPlane's status")
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	}, SpecTimeout(3*time.Minute))

	It("is adopted, not started twice, when its agent restarts", func(ctx SpecContext) {
		dir := controlPlaneDir(a)
		before := framework.ChildPid("vfleet", dir)
		apiserver := framework.ChildPid("kube-apiserver", dir)
		Expect(before).NotTo(BeZero())
		host := suite.Lab.Host(a.Status.Host)
		Expect(host.Kill(lab.Agent)).To(Succeed())
		Expect(host.Start(ctx)).To(Succeed())

		// The new agent has taken up the ControlPlane once it renews its
		// status; the processes are the ones that ran before.
		Eventually(func(g Gomega) {
			vc := &fleetv1.VirtualCluster{}
			g.Expect(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(a), vc)).To(Succeed())
			g.Expect(vc.Status.Phase).To(Equal(fleetv1.PhaseReady))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(framework.ChildPid("vfleet", dir)).To(Equal(before))
			g.Expect(framework.ChildPid("kube-apiserver", dir)).To(Equal(apiserver))
		}).WithContext(ctx).WithTimeout(5 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		kube, _ := framework.VClusterClients(tenant)
		_, err := kube.CoreV1().ConfigMaps("shop").Get(ctx, "settings", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
	}, SpecTimeout(2*time.Minute))

	It("is deleted with the CLI, leaving nothing behind", func(ctx SpecContext) {
		left := []leftovers{leftoversOf(a), leftoversOf(b)}
		s := vfleet("delete", "tenant-a", "tenant-b", "--wait")
		Expect(s.ExitCode()).To(Equal(0), "stderr: %s", s.Err.Contents())
		for _, l := range left {
			expectNoLeftovers(ctx, l)
		}
		for _, vc := range []*fleetv1.VirtualCluster{a, b} {
			secret := &corev1.Secret{}
			err := suite.Mgmt.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: vc.Status.KubeconfigSecret}, secret)
			if err == nil {
				// Garbage collection takes the owned Secret shortly after.
				Eventually(func() bool {
					return apierrors.IsNotFound(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(secret), secret))
				}).WithContext(ctx).WithTimeout(30 * time.Second).Should(BeTrue())
			}
			var cps fleetv1.ControlPlaneList
			Expect(suite.Mgmt.List(ctx, &cps, client.MatchingLabels{fleetv1.LabelVirtualClusterUID: string(vc.UID)})).To(Succeed())
			Expect(cps.Items).To(BeEmpty())
		}
	}, SpecTimeout(3*time.Minute))
})

var _ = Describe("Ten vclusters created at once", func() {
	It("all become Ready, and all are deleted without leftovers", func(ctx SpecContext) {
		Expect(client.IgnoreAlreadyExists(suite.Mgmt.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "batch"}}))).To(Succeed())
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				vc := builder.MakeVirtualCluster("batch", fmt.Sprintf("ci-%02d", i)).CPU("500m").Memory("512Mi").Obj()
				vc.Spec.Resources.Pods = 10
				Expect(suite.Mgmt.Create(ctx, vc)).To(Succeed())
			}()
		}
		wg.Wait()
		var ready []*fleetv1.VirtualCluster
		for i := range 10 {
			ready = append(ready, framework.WaitForVClusterReady(ctx, suite.Mgmt, client.ObjectKey{Namespace: "batch", Name: fmt.Sprintf("ci-%02d", i)}, 4*time.Minute))
		}
		var left []leftovers
		for _, vc := range ready {
			// Each answers with its own kubeconfig.
			kube, _ := framework.VClusterClients(framework.VClusterConfig(ctx, suite.Mgmt, vc))
			_, err := kube.Discovery().ServerVersion()
			Expect(err).NotTo(HaveOccurred(), "vcluster %s", vc.Name)
			left = append(left, leftoversOf(vc))
		}
		Expect(suite.Mgmt.DeleteAllOf(ctx, &fleetv1.VirtualCluster{}, client.InNamespace("batch"))).To(Succeed())
		Eventually(func(g Gomega) {
			var list fleetv1.VirtualClusterList
			g.Expect(suite.Mgmt.List(ctx, &list, client.InNamespace("batch"))).To(Succeed())
			g.Expect(list.Items).To(BeEmpty())
		}).WithContext(ctx).WithTimeout(3 * time.Minute).Should(Succeed())
		for _, l := range left {
			expectNoLeftovers(ctx, l)
		}
	}, SpecTimeout(8*time.Minute))
})

var _ = Describe("A bad request", func() {
	// expectNothingCreated checks that no ControlPlane and no host
	// namespace exist for the vcluster, for a while.
	expectNothingCreated := func(ctx context.Context, vc *fleetv1.VirtualCluster) {
		ns := names.VClusterNamespace(vc.Namespace, vc.Name)
		Consistently(func(g Gomega) {
			var cps fleetv1.ControlPlaneList
			g.Expect(suite.Mgmt.List(ctx, &cps, client.MatchingLabels{fleetv1.LabelVirtualClusterUID: string(vc.UID)})).To(Succeed())
			g.Expect(cps.Items).To(BeEmpty())
			for _, h := range suite.Lab.Hosts() {
				kube, err := h.Client()
				g.Expect(err).NotTo(HaveOccurred())
				_, err = kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "host %s has namespace %s", h.Name, ns)
			}
		}).WithContext(ctx).WithTimeout(3 * time.Second).Should(Succeed())
	}

	DescribeTable("gets a clear condition and creates nothing",
		func(ctx SpecContext, name string, edit func(*fleetv1.VirtualCluster), want string) {
			vc := builder.MakeVirtualCluster("default", name).Obj()
			edit(vc)
			Expect(suite.Mgmt.Create(ctx, vc)).To(Succeed())
			DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(suite.Mgmt.Delete(ctx, vc))).To(Succeed()) })
			Eventually(func(g Gomega) {
				g.Expect(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(vc), vc)).To(Succeed())
				c := framework.Condition(vc, fleetv1.ConditionScheduled)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(c.Message).To(ContainSubstring(want))
				g.Expect(vc.Status.Phase).To(Equal(fleetv1.PhasePending))
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
			expectNothingCreated(ctx, vc)
		},
		Entry("an unknown Kubernetes version", "old-version", func(vc *fleetv1.VirtualCluster) { vc.Spec.KubernetesVersion = "v1.99.0" }, "no v1.99.0 binaries"),
		Entry("larger than any host", "too-big", func(vc *fleetv1.VirtualCluster) { vc.Spec.Resources.CPU = resourceOf("64") }, "insufficient cpu"),
	)

	It("with an invalid name is refused by the API server, saying why", func() {
		s := vfleet("create", "team.a")
		Expect(s.ExitCode()).To(Equal(1))
		Expect(s.Err).To(gbytesSay("a vcluster name must be a DNS label"))
		err := suite.Mgmt.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "team.a"}, &fleetv1.VirtualCluster{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue())
	})
})
