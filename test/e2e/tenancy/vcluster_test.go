package tenancy_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/test/framework"
)

// refused waits for the Event the syncer records on a virtual object it
// keeps off the host, then checks for a few seconds that no host copy
// appears.
func refused(ctx context.Context, t framework.Tenant, kind, name, reason, says string, onHost func(kubernetes.Interface, string, string) error) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		events, err := t.Kube.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=" + kind + ",involvedObject.name=" + name})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(events.Items).To(ContainElement(And(HaveField("Reason", reason), HaveField("Message", ContainSubstring(says)))))
	}).WithContext(ctx).WithTimeout(30*time.Second).Should(Succeed(), "no %s Event on %s %s", reason, kind, name)
	Consistently(func(g Gomega) {
		err := onHost(t.Host, t.HostNS, t.HostName(name, "default"))
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s %s reached the host: %v", kind, name, err)
	}).WithContext(ctx).WithTimeout(3 * time.Second).Should(Succeed())
}

func hostPod(c kubernetes.Interface, ns, name string) error {
	_, err := c.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	return err
}

func hostService(c kubernetes.Interface, ns, name string) error {
	_, err := c.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	return err
}

func hostEndpoints(c kubernetes.Interface, ns, name string) error {
	_, err := c.CoreV1().Endpoints(ns).Get(context.Background(), name, metav1.GetOptions{})
	return err
}

func attackPod(name string, edit func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}},
	}}
	edit(p)
	return p
}

func securityContext(sc *corev1.SecurityContext) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Containers[0].SecurityContext = sc }
}

func volume(src corev1.VolumeSource) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: src}} }
}

var _ = Describe("A tenant inside its vcluster", Ordered, func() {
	var t framework.Tenant

	BeforeAll(func(ctx SpecContext) { t = suite.NewTenant(ctx, "mallory") }, NodeTimeout(3*time.Minute))

	DescribeTable("cannot get a pod onto the host that reaches beyond its namespace: it stays Pending and the tenant is told which policy",
		func(ctx SpecContext, name string, edit func(*corev1.Pod), reason, says string) {
			_, err := t.Kube.CoreV1().Pods("default").Create(ctx, attackPod(name, edit), metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
			refused(ctx, t, "Pod", name, reason, says, hostPod)
			p, err := t.Kube.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Status.Phase).To(Equal(corev1.PodPending))
		},
		// The Multi-Tenancy Benchmarks' level 1.
		Entry("privileged", "privileged", securityContext(&corev1.SecurityContext{Privileged: ptr.To(true)}), "ForbiddenByIsolationPolicy", "privileged"),
		Entry("hostPath", "hostpath", volume(corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}), "ForbiddenVolumeType", "is of type hostPath"),
		Entry("hostNetwork", "hostnetwork", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, "ForbiddenByIsolationPolicy", "hostNetwork=true"),
		Entry("hostPID", "hostpid", func(p *corev1.Pod) { p.Spec.HostPID = true }, "ForbiddenByIsolationPolicy", "hostPID=true"),
		Entry("hostIPC", "hostipc", func(p *corev1.Pod) { p.Spec.HostIPC = true }, "ForbiddenByIsolationPolicy", "hostIPC=true"),
		Entry("hostPort", "hostport", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
		}, "ForbiddenByIsolationPolicy", "hostPort"),
		Entry("an added capability", "sysadmin", securityContext(&corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}}),
			"ForbiddenByIsolationPolicy", "SYS_ADMIN"),
		Entry("privilege escalation", "escalates", securityContext(&corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)}),
			"ForbiddenByIsolationPolicy", "allowPrivilegeEscalation=true"),
		// What the trust issue reproduced or read in the code.
		Entry("root", "root", securityContext(&corev1.SecurityContext{RunAsUser: ptr.To(int64(0))}), "ForbiddenByIsolationPolicy", "runAsUser: 0"),
		Entry("an nfs share", "nfs", volume(corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "10.0.0.9", Path: "/exports"}}), "ForbiddenVolumeType", "is of type nfs"),
		Entry("an inline csi volume", "csi", volume(corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "secrets-store.csi.k8s.io"}}), "ForbiddenVolumeType", "is of type csi"),
		Entry("an ephemeral claim", "ephemeral", volume(corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
			VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{
				VolumeName:  "a-host-pv",
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			}},
		}}), "ForbiddenVolumeType", "is of type ephemeral"),
		Entry("a node of the host's choosing", "steers", func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"node-role.kubernetes.io/control-plane": ""}
		}, "ForbiddenNodeSteering", "node-role.kubernetes.io/control-plane"),
	)

	It("cannot open a NodePort, a LoadBalancer or externalIPs on the host", func(ctx SpecContext) {
		for name, spec := range map[string]corev1.ServiceSpec{
			"nodeport":     {Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}},
			"loadbalancer": {Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}},
			"externalip":   {ExternalIPs: []string{"192.0.2.10"}, Ports: []corev1.ServicePort{{Port: 80}}},
		} {
			_, err := t.Kube.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
		}
		refused(ctx, t, "Service", "nodeport", "ForbiddenByIsolationPolicy", "allowNodePorts", hostService)
		refused(ctx, t, "Service", "loadbalancer", "ForbiddenByIsolationPolicy", "allowNodePorts", hostService)
		refused(ctx, t, "Service", "externalip", "ForbiddenByIsolationPolicy", "externalIPs are not allowed", hostService)
	}, SpecTimeout(2*time.Minute))

	It("cannot point a Service at the host's API service (CVE-2021-25740)", func(ctx SpecContext) {
		_, err := t.Kube.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "sneaky"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443}}}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		//nolint:staticcheck // Endpoints are what the attack writes.
		_, err = t.Kube.CoreV1().Endpoints("default").Create(ctx, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "sneaky"},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.96.0.1"}}, Ports: []corev1.EndpointPort{{Port: 443}}}}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		refused(ctx, t, "Endpoints", "sneaky", "ForbiddenEndpointAddress", "10.96.0.1", hostEndpoints)
	}, SpecTimeout(time.Minute))

	It("cannot give its host pod a label or an annotation that means something on the host, nor a toleration of every taint", func(ctx SpecContext) {
		pod := attackPod("impostor", func(p *corev1.Pod) {
			p.Labels["app.kubernetes.io/name"] = "vfleet-controlplane"
			p.Annotations = map[string]string{"k8s.v1.cni.cncf.io/networks": "host-network", "sidecar.istio.io/inject": "true"}
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		})
		_, err := t.Kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			hp, err := t.Host.CoreV1().Pods(t.HostNS).Get(ctx, t.HostName("impostor", "default"), metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(hp.Labels).NotTo(HaveKey("app.kubernetes.io/name"))
			g.Expect(hp.Labels).To(HaveKeyWithValue(syncer.HostLabelKey("app.kubernetes.io/name"), "vfleet-controlplane"))
			g.Expect(hp.Annotations).NotTo(HaveKey("k8s.v1.cni.cncf.io/networks"))
			g.Expect(hp.Annotations).NotTo(HaveKey("sidecar.istio.io/inject"))
			g.Expect(hp.Spec.Tolerations).NotTo(ContainElement(HaveField("Key", "")))
			g.Expect(hp.Spec.SecurityContext.RunAsNonRoot).To(Equal(ptr.To(true)))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	}, SpecTimeout(time.Minute))
})
