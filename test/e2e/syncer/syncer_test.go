package syncer_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/test/framework"
)

// hostWeb selects on the host the copies of the pods labelled app=web: the
// host carries the tenant's labels under vfleet's keys.
var hostWeb = syncer.HostLabelKey("app") + "=web"

var _ = Describe("A vcluster's workloads", Ordered, func() {
	var a framework.Tenant

	BeforeAll(func(ctx SpecContext) { a = suite.NewTenant(ctx, "alpha") }, NodeTimeout(3*time.Minute))

	It("shows, before any pod exists, ready and schedulable nodes: the host's, as the upstream e2e framework checks them", func(ctx SpecContext) {
		pods, err := a.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(pods.Items).To(BeEmpty())
		hostNodes, err := a.Host.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		var want []string
		for _, n := range hostNodes.Items {
			want = append(want, n.Name)
		}
		// What the framework's CheckReadyForTests asks of every node: Ready,
		// not cordoned, no taint that keeps test pods off.
		Eventually(func(g Gomega) {
			nodes, err := a.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			var got []string
			for _, n := range nodes.Items {
				got = append(got, n.Name)
				g.Expect(n.Spec.Unschedulable).To(BeFalse(), "node %s", n.Name)
				g.Expect(n.Spec.Taints).To(BeEmpty(), "node %s", n.Name)
				g.Expect(n.Status.Conditions).To(ContainElement(And(
					HaveField("Type", corev1.NodeReady), HaveField("Status", corev1.ConditionTrue))), "node %s", n.Name)
				g.Expect(n.Status.Allocatable.Cpu().IsZero()).To(BeFalse(), "node %s has no allocatable CPU", n.Name)
			}
			g.Expect(got).To(ConsistOf(want))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	}, SpecTimeout(time.Minute))

	It("run on the host: a 50-replica Deployment becomes 50 Running pods in the vcluster", func(ctx SpecContext) {
		framework.CreateDeployment(ctx, framework.CreateDeploymentInput{Client: a.Kube, Namespace: "default", Name: "web", Replicas: 50})
		framework.WaitForRunningPods(ctx, framework.WaitForRunningPodsInput{Client: a.Kube, Namespace: "default", Selector: "app=web", Count: 50, Timeout: 3 * time.Minute})
		hostPods, err := a.Host.CoreV1().Pods(a.HostNS).List(ctx, metav1.ListOptions{LabelSelector: hostWeb})
		Expect(err).NotTo(HaveOccurred())
		Expect(hostPods.Items).To(HaveLen(50))
	}, SpecTimeout(4*time.Minute))

	It("shows the host nodes its pods run on among them", func(ctx SpecContext) {
		pods, err := a.Kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		Expect(err).NotTo(HaveOccurred())
		used := map[string]bool{}
		for _, p := range pods.Items {
			used[p.Spec.NodeName] = true
		}
		Eventually(func(g Gomega) {
			nodes, err := a.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			got := map[string]bool{}
			for _, n := range nodes.Items {
				got[n.Name] = true
				g.Expect(n.Status.Allocatable.Cpu().String()).To(Equal("8"), "node %s carries the host's capacity", n.Name)
			}
			for n := range used {
				g.Expect(got).To(HaveKey(n))
			}
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	}, SpecTimeout(time.Minute))

	It("gets the host's ClusterIP for a Service", func(ctx SpecContext) {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}},
		}}
		_, err := a.Kube.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			host, err := a.Host.CoreV1().Services(a.HostNS).Get(ctx, a.HostName("web", "default"), metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			virtual, err := a.Kube.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(virtual.Spec.ClusterIP).NotTo(BeEmpty())
			g.Expect(virtual.Spec.ClusterIP).To(Equal(host.Spec.ClusterIP))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	}, SpecTimeout(time.Minute))

	It("copies the ConfigMap a pod mounts to the host", func(ctx SpecContext) {
		_, err := a.Kube.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"color": "blue"},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "reader"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10", VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}}}},
			Volumes:    []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}},
		}}
		_, err = a.Kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			cm, err := a.Host.CoreV1().ConfigMaps(a.HostNS).Get(ctx, a.HostName("settings", "default"), metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cm.Data).To(HaveKeyWithValue("color", "blue"))
			p, err := a.Kube.CoreV1().Pods("default").Get(ctx, "reader", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	}, SpecTimeout(time.Minute))

	It("keeps a privileged pod off the host, Pending, with an Event saying why", func(ctx SpecContext) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "root"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}},
		}}
		_, err := a.Kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			events, err := a.Kube.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=root"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(events.Items).To(ContainElement(And(HaveField("Reason", "ForbiddenByIsolationPolicy"), HaveField("Message", ContainSubstring("privileged")))))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			_, err := a.Host.CoreV1().Pods(a.HostNS).Get(ctx, a.HostName("root", "default"), metav1.GetOptions{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
			p, err := a.Kube.CoreV1().Pods("default").Get(ctx, "root", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Status.Phase).To(Equal(corev1.PodPending))
		}).WithContext(ctx).WithTimeout(3 * time.Second).Should(Succeed())
	}, SpecTimeout(time.Minute))

	It("does not collide with another vcluster's objects of the same name on the same host", func(ctx SpecContext) {
		b := suite.NewTenant(ctx, "beta")
		Expect(b.VC.Status.Host).To(Equal(a.VC.Status.Host), "the lab has one host")
		framework.CreateDeployment(ctx, framework.CreateDeploymentInput{Client: b.Kube, Namespace: "default", Name: "web", Replicas: 2})
		framework.WaitForRunningPods(ctx, framework.WaitForRunningPodsInput{Client: b.Kube, Namespace: "default", Selector: "app=web", Count: 2})
		// Each host namespace holds its own vcluster's pods only.
		for _, t := range []framework.Tenant{a, b} {
			pods, err := t.Host.CoreV1().Pods(t.HostNS).List(ctx, metav1.ListOptions{LabelSelector: hostWeb})
			Expect(err).NotTo(HaveOccurred())
			for _, p := range pods.Items {
				Expect(p.Labels).To(HaveKeyWithValue(fleetv1.LabelVirtualClusterUID, string(t.VC.UID)))
				Expect(p.Annotations).To(HaveKeyWithValue(syncer.AnnotationVirtualNamespace, "default"))
			}
		}
		framework.WaitForRunningPods(ctx, framework.WaitForRunningPodsInput{Client: a.Kube, Namespace: "default", Selector: "app=web", Count: 50})
		Expect(suite.Mgmt.Delete(ctx, b.VC)).To(Succeed())
	}, SpecTimeout(4*time.Minute))

	It("removes the host pods when the Deployment is deleted", func(ctx SpecContext) {
		Expect(a.Kube.AppsV1().Deployments("default").Delete(ctx, "web", metav1.DeleteOptions{})).To(Succeed())
		Eventually(func(g Gomega) {
			hostPods, err := a.Host.CoreV1().Pods(a.HostNS).List(ctx, metav1.ListOptions{LabelSelector: hostWeb})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(hostPods.Items).To(BeEmpty())
			pods, err := a.Kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods.Items).To(BeEmpty())
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
	}, SpecTimeout(3*time.Minute))
})
