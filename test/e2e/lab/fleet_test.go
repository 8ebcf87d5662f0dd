package lab_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

const replicas = 20

var _ = Describe("A lab of 1 management cluster and 3 hosts", Ordered, func() {
	clientOf := func(c *lab.Cluster) kubernetes.Interface {
		client, err := c.Client()
		Expect(err).NotTo(HaveOccurred())
		return client
	}

	It("has every kwok node Ready and schedulable, labelled with its region and zone", func(ctx SpecContext) {
		Expect(fleet.Hosts()).To(HaveLen(3))
		regions := map[string]bool{}
		for _, h := range fleet.Hosts() {
			nodes, err := clientOf(h).CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			Expect(err).NotTo(HaveOccurred())
			Expect(nodes.Items).To(HaveLen(2), h.Name)
			for _, n := range nodes.Items {
				Expect(lab.Schedulable(&n)).To(BeTrue(), "node %s: taints %v, conditions %v", n.Name, n.Spec.Taints, n.Status.Conditions)
				Expect(n.Labels).To(HaveKeyWithValue(lab.LabelRegion, h.Host.Region))
				Expect(n.Labels).To(HaveKeyWithValue(lab.LabelZone, h.Host.Zone))
				Expect(n.Status.Allocatable.Cpu().String()).To(Equal("8"))
				Expect(n.Status.Allocatable.Memory().String()).To(Equal("32Gi"))
				Expect(n.Status.Allocatable.Pods().Value()).To(BeEquivalentTo(110))
			}
			regions[h.Host.Region] = true
		}
		Expect(regions).To(HaveLen(2))

		By("serving the pinned Kubernetes version")
		v, err := clientOf(fleet.Management()).Discovery().ServerVersion()
		Expect(err).NotTo(HaveOccurred())
		Expect(v.GitVersion).To(Equal(k8sbin.Version))
	})

	It("runs a 20-replica Deployment to 20 Running pods on every host", func(ctx SpecContext) {
		for _, h := range fleet.Hosts() {
			framework.CreateDeployment(ctx, framework.CreateDeploymentInput{
				Client: clientOf(h), Namespace: metav1.NamespaceDefault, Name: "web", Replicas: replicas,
			})
		}
		for _, h := range fleet.Hosts() {
			framework.WaitForRunningPods(ctx, framework.WaitForRunningPodsInput{
				Client: clientOf(h), Namespace: metav1.NamespaceDefault, Selector: "app=web", Count: replicas,
			})
		}
		By("giving pods an address on their node and in the node's pod range")
		pods, err := clientOf(fleet.Hosts()[0]).CoreV1().Pods(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		for _, p := range pods.Items {
			Expect(p.Status.HostIP).To(HavePrefix("172.16.1."), p.Name)
			Expect(p.Status.PodIP).To(HavePrefix("10.244."), p.Name)
		}
	}, SpecTimeout(3*time.Minute))

	It("makes a host unreachable when its kube-apiserver is killed, and brings it back with its Deployment", func(ctx SpecContext) {
		host := fleet.Hosts()[0]
		client := clientOf(host)
		pid := host.Pids()[lab.KubeAPIServer]

		Expect(host.Kill(lab.KubeAPIServer)).To(Succeed())
		Expect(framework.Alive([]int{pid})).To(BeEmpty())
		Expect(host.Pids()).NotTo(HaveKey(lab.KubeAPIServer))
		rctx, cancel := withTimeout(ctx)
		defer cancel()
		_, err := client.CoreV1().Namespaces().List(rctx, metav1.ListOptions{})
		Expect(err).To(MatchError(ContainSubstring("connection refused")))

		By("the other hosts carry on")
		_, err = clientOf(fleet.Hosts()[1]).CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())

		Expect(host.Start(ctx)).To(Succeed())
		Expect(host.Pids()[lab.KubeAPIServer]).NotTo(Equal(pid))
		Eventually(framework.DeploymentAvailable(ctx, client, metav1.NamespaceDefault, "web", replicas)).WithContext(ctx).Should(Succeed())
	}, SpecTimeout(3*time.Minute))

	It("leaves a paused host's API unanswered until it is resumed", func(ctx SpecContext) {
		host := fleet.Hosts()[1]
		client := clientOf(host)
		Expect(host.Pause()).To(Succeed())
		DeferCleanup(host.Resume) // never leave a frozen host behind a failed assertion

		rctx, cancel := withTimeout(ctx)
		defer cancel()
		_, err := client.CoreV1().Namespaces().List(rctx, metav1.ListOptions{})
		Expect(err).To(HaveOccurred(), "a frozen apiserver answered")

		Expect(host.Resume()).To(Succeed())
		Eventually(func() error {
			_, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			return err
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		By("Start resumes a paused component instead of waiting on it")
		pid := host.Pids()[lab.Kwok]
		Expect(host.Pause(lab.Kwok)).To(Succeed())
		Expect(host.Start(ctx)).To(Succeed())
		Expect(host.Pids()[lab.Kwok]).To(Equal(pid), "the same kwok process, resumed")
	}, SpecTimeout(2*time.Minute))

	It("stops a whole host and starts it again with its data intact", func(ctx SpecContext) {
		host := fleet.Hosts()[2]
		before := host.Pids()
		Expect(host.Stop(ctx)).To(Succeed())
		Expect(host.Pids()).To(BeEmpty())
		Expect(framework.Alive(values(before))).To(BeEmpty())

		Expect(host.Start(ctx)).To(Succeed())
		client := clientOf(host)
		Eventually(framework.DeploymentAvailable(ctx, client, metav1.NamespaceDefault, "web", replicas)).WithContext(ctx).Should(Succeed())
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(lab.CountSchedulable(nodes.Items)).To(Equal(2))
	}, SpecTimeout(3*time.Minute))

	It("removes a deleted Deployment's pods", func(ctx SpecContext) {
		client := clientOf(fleet.Hosts()[0])
		Expect(client.AppsV1().Deployments(metav1.NamespaceDefault).Delete(ctx, "web", metav1.DeleteOptions{})).To(Succeed())
		Eventually(func(g Gomega) {
			pods, err := client.CoreV1().Pods(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods.Items).To(BeEmpty())
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
	}, SpecTimeout(2*time.Minute))
})

func values(m map[lab.Component]int) []int {
	var out []int
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
