package kuberuntime_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kuberuntime "github.com/vfleet/vfleet/agent/runtime/kubernetes"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/names"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/lab/images"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/framework"
)

var _ = Describe("A vcluster whose control plane is a pod", Ordered, func() {
	var (
		vc     *fleetv1.VirtualCluster
		host   kubernetes.Interface
		hostNS string
		cfg    *rest.Config
		kube   kubernetes.Interface
	)

	BeforeAll(func(ctx SpecContext) {
		vc = builder.MakeVirtualCluster("default", "inpod").CPU("2").Memory("4Gi").Class(lab.RealNodesClass).Obj()
		Expect(suite.Mgmt.Create(ctx, vc)).To(Succeed())
		vc = framework.WaitForVClusterReady(ctx, suite.Mgmt, client.ObjectKeyFromObject(vc), 3*time.Minute)
		var err error
		host, err = suite.Lab.Host(vc.Status.Host).Client()
		Expect(err).NotTo(HaveOccurred())
		hostNS = names.VClusterNamespace(vc.Namespace, vc.Name)
	}, NodeTimeout(4*time.Minute))

	It("runs from the vfleet image on the real node, Ready", func(ctx SpecContext) {
		pod, err := host.CoreV1().Pods(hostNS).Get(ctx, kuberuntime.StatefulSetName+"-0", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(pod.Spec.Containers[0].Image).To(Equal(images.Vfleet))
		Expect(pod.Spec.NodeName).To(Equal(suite.Lab.Host(vc.Status.Host).RealNodeNames()[0]))
		Expect(pod.Status.ContainerStatuses).To(ContainElement(HaveField("Ready", BeTrue())))
	}, SpecTimeout(time.Minute))

	It("serves kubectl through the region's gateway, at its Service's address, with the kubeconfig the tenant was given", func(ctx SpecContext) {
		cfg = framework.VClusterConfig(ctx, suite.Mgmt, vc)
		Expect(cfg.Host).To(Equal("https://"+suite.Lab.Management().GatewayAddress()), "the kubeconfig names the gateway")
		var err error
		kube, err = kubernetes.NewForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			// The vcluster's controller-manager makes the default account,
			// which the API needs before it admits pods.
			_, err := kube.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		nss, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(nss.Items).To(ContainElement(HaveField("Name", "kube-system")))
	}, SpecTimeout(2*time.Minute))

	It("runs its tenant's pod on the real node, with logs and exec through the pod's syncer", func(ctx SpecContext) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "hello"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "hello", Image: images.BusyBox, Command: []string{"sh", "-c", "echo hello from a pod of a pod; sleep 3600"}}},
		}}
		framework.OnRealNodes(&pod.Spec)
		_, err := kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			p, err := kube.CoreV1().Pods("default").Get(ctx, "hello", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "status: %+v", p.Status)
			logs, err := kube.CoreV1().Pods("default").GetLogs("hello", &corev1.PodLogOptions{}).DoRaw(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(logs)).To(ContainSubstring("hello from a pod of a pod"))
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
		out, err := framework.Exec(ctx, cfg, kube, "default", "hello", "hello", "id", "-u")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal("1000"))
	}, SpecTimeout(3*time.Minute))

	It("gives that pod its own DNS and API, served from the control plane's pod", func(ctx SpecContext) {
		svc, err := kube.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "named"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		// The Service takes its host copy's ClusterIP first.
		Eventually(func(g Gomega) {
			svc, err = kube.CoreV1().Services("default").Get(ctx, "named", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			host, err := host.CoreV1().Services(hostNS).Get(ctx, names.HostName("named", "default", vc.Name), metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(svc.Spec.ClusterIP).To(Equal(host.Spec.ClusterIP))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			out, err := framework.Exec(ctx, cfg, kube, "default", "hello", "hello", "nslookup", "named.default.svc.cluster.local")
			g.Expect(err).NotTo(HaveOccurred(), out)
			g.Expect(out).To(ContainSubstring("Address: " + svc.Spec.ClusterIP))
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(2 * time.Second).Should(Succeed())
		// The API at the address the pod is given, checked with its CA.
		cp, err := host.CoreV1().Pods(hostNS).Get(ctx, kuberuntime.StatefulSetName+"-0", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		out, err := framework.Exec(ctx, cfg, kube, "default", "hello", "hello", "sh", "-c", "echo $KUBERNETES_SERVICE_HOST; nslookup kubernetes.default.svc.cluster.local")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(strings.Fields(out)[0]).To(Equal(cp.Status.PodIP))
		Expect(out).To(ContainSubstring("Address: " + cp.Status.PodIP))
	}, SpecTimeout(2*time.Minute))
})
