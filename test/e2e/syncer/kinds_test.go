package syncer_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/syncer/resources/storage"
	"github.com/vfleet/vfleet/test/framework"
)

// The kinds beyond pods and Services, on a vcluster whose class hands out
// an ingress class, host names and two of the host's priority classes.
// The lab runs no ingress controller, network policy enforcer or volume
// provisioner: what is checked is what reaches the host, and what the
// host's own controllers (its PV binder) make of it.
var _ = Describe("A vcluster's other kinds", Ordered, func() {
	var k framework.Tenant
	const class = "kinds"
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}

	BeforeAll(func(ctx SpecContext) {
		vcc := &fleetv1.VirtualClusterClass{ObjectMeta: metav1.ObjectMeta{Name: class}, Spec: fleetv1.VirtualClusterClassSpec{
			Isolation: fleetv1.IsolationPolicy{
				PodSecurity: fleetv1.PodSecurityBaseline, AllowedIngressClasses: []string{"lab"}, AllowedIngressHosts: []string{"*.kinds.test"},
				AllowedPriorityClasses: []string{"e2e-low", "e2e-high"},
			},
		}}
		Expect(suite.Mgmt.Create(ctx, vcc)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(suite.Mgmt.Delete(ctx, vcc))).To(Succeed()) })
		host, err := suite.Lab.Hosts()[0].Client()
		Expect(err).NotTo(HaveOccurred())
		for name, value := range map[string]int32{"e2e-low": 10, "e2e-high": 1000} {
			_, err := host.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}, metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func(ctx SpecContext) {
				_ = host.SchedulingV1().PriorityClasses().Delete(ctx, name, metav1.DeleteOptions{})
			})
		}
		k = suite.NewTenantOfClass(ctx, class, class)
	}, NodeTimeout(3*time.Minute))

	It("copies PodDisruptionBudgets, NetworkPolicies and Ingresses to the host, in its terms, and removes them with the tenant's", func(ctx SpecContext) {
		ns := "default"
		_, err := k.Kube.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)), Selector: web}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = k.Kube.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: *web, Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}},
			}}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = k.Kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cert"},
			Type: corev1.SecretTypeTLS, StringData: map[string]string{"tls.crt": "c", "tls.key": "k"}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = k.Kube.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{Host: "shop.kinds.test", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}},
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"shop.kinds.test"}, SecretName: "cert"}},
		}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())

		name := k.HostName("web", ns)
		Eventually(func(g Gomega) {
			pdb, err := k.Host.PolicyV1().PodDisruptionBudgets(k.HostNS).Get(ctx, name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pdb.Spec.Selector.MatchLabels).To(HaveKeyWithValue(syncer.LabelVirtualNamespace, ns))
			np, err := k.Host.NetworkingV1().NetworkPolicies(k.HostNS).Get(ctx, name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(np.Spec.Ingress[0].From[0].NamespaceSelector).To(BeNil(), "the host policy reaches beyond the vcluster's namespace")
			ing, err := k.Host.NetworkingV1().Ingresses(k.HostNS).Get(ctx, name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(*ing.Spec.IngressClassName).To(Equal("lab"))
			g.Expect(ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name).To(Equal(name))
			g.Expect(ing.Spec.TLS[0].SecretName).To(Equal(k.HostName("cert", ns)))
			_, err = k.Host.CoreV1().Secrets(k.HostNS).Get(ctx, k.HostName("cert", ns), metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		Expect(k.Kube.PolicyV1().PodDisruptionBudgets(ns).Delete(ctx, "web", metav1.DeleteOptions{})).To(Succeed())
		Expect(k.Kube.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "web", metav1.DeleteOptions{})).To(Succeed())
		Expect(k.Kube.NetworkingV1().Ingresses(ns).Delete(ctx, "web", metav1.DeleteOptions{})).To(Succeed())
		Eventually(func(g Gomega) {
			_, err := k.Host.PolicyV1().PodDisruptionBudgets(k.HostNS).Get(ctx, name, metav1.GetOptions{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "PodDisruptionBudget: %v", err)
			_, err = k.Host.NetworkingV1().NetworkPolicies(k.HostNS).Get(ctx, name, metav1.GetOptions{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "NetworkPolicy: %v", err)
			_, err = k.Host.NetworkingV1().Ingresses(k.HostNS).Get(ctx, name, metav1.GetOptions{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "Ingress: %v", err)
			_, err = k.Host.CoreV1().Secrets(k.HostNS).Get(ctx, k.HostName("cert", ns), metav1.GetOptions{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the TLS Secret no Ingress uses: %v", err)
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	}, SpecTimeout(2*time.Minute))

	It("gives its pods the host priority class its class allows, by their own priority", func(ctx SpecContext) {
		_, err := k.Kube.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "urgent"}, Value: 5000}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "urgent"}, Spec: corev1.PodSpec{
			PriorityClassName: "urgent",
			Containers:        []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}},
		}}
		_, err = k.Kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			hp, err := k.Host.CoreV1().Pods(k.HostNS).Get(ctx, k.HostName("urgent", "default"), metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(hp.Spec.PriorityClassName).To(Equal("e2e-high"))
			g.Expect(*hp.Spec.Priority).To(Equal(int32(1000)), "the host's class, not the tenant's 5000")
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	}, SpecTimeout(time.Minute))

	It("shows the host's StorageClasses, and the host volume its claim is bound to, read-only", func(ctx SpecContext) {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "e2e-static"}, Provisioner: "kubernetes.io/no-provisioner",
			Parameters: map[string]string{"secret": "the host's"}}
		_, err := k.Host.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_ = k.Host.StorageV1().StorageClasses().Delete(ctx, sc.Name, metav1.DeleteOptions{})
		})
		Eventually(func(g Gomega) {
			v, err := k.Kube.StorageV1().StorageClasses().Get(ctx, sc.Name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(v.Provisioner).To(Equal(sc.Provisioner))
			g.Expect(v.Parameters).To(BeEmpty())
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		// Deleted by the tenant, it comes back.
		Expect(k.Kube.StorageV1().StorageClasses().Delete(ctx, sc.Name, metav1.DeleteOptions{})).To(Succeed())
		Eventually(func() error {
			_, err := k.Kube.StorageV1().StorageClasses().Get(ctx, sc.Name, metav1.GetOptions{})
			return err
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(sc.Name), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		}}
		_, err = k.Kube.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		var hostClaim *corev1.PersistentVolumeClaim
		Eventually(func(g Gomega) {
			hostClaim, err = k.Host.CoreV1().PersistentVolumeClaims(k.HostNS).Get(ctx, k.HostName("data", "default"), metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		// A volume the host's admin made for it; the host's binder binds them.
		pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "e2e-data"}, Spec: corev1.PersistentVolumeSpec{
			StorageClassName: sc.Name, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			ClaimRef:               &corev1.ObjectReference{Namespace: k.HostNS, Name: hostClaim.Name},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/e2e-data"}},
		}}
		_, err = k.Host.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) {
			_ = k.Host.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
		})
		Eventually(func(g Gomega) {
			v, err := k.Kube.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(v.Status.Phase).To(Equal(corev1.VolumeBound))
			g.Expect(v.Spec.ClaimRef.Namespace + "/" + v.Spec.ClaimRef.Name).To(Equal("default/data"))
			g.Expect(v.Spec.CSI.Driver).To(Equal(storage.HostDriver))
			c, err := k.Kube.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(c.Spec.VolumeName).To(Equal(pv.Name))
			g.Expect(c.Status.Phase).To(Equal(corev1.ClaimBound))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
	}, SpecTimeout(2*time.Minute))

	It("leaves nothing of its own in the host namespace once deleted: the namespace goes", func(ctx SpecContext) {
		Expect(suite.Mgmt.Delete(ctx, k.VC)).To(Succeed())
		Eventually(func() bool {
			_, err := k.Host.CoreV1().Namespaces().Get(ctx, k.HostNS, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		}).WithContext(ctx).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(BeTrue(), "the host namespace is still there")
	}, SpecTimeout(3*time.Minute))
})
