package syncer_test

import (
	"context"
	"testing"

	"github.com/onsi/gomega"
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
	"github.com/vfleet/vfleet/syncer/resources/ingresses"
	"github.com/vfleet/vfleet/syncer/resources/storage"
)

// TestSyncKinds: the kinds beyond pods and their Services, one case each.
func TestSyncKinds(t *testing.T) {
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	edited := false  // the tenant's change to a StorageClass, made once
	tainted := false // the tenant's taint on its node, and the host's change after, made once
	runSyncCases(t, []syncCase{
		{
			name: "a taint and a label the tenant puts on its node stay beside the host's, which follow the host; a pod that chooses the label runs there",
			host: func(w world) []client.Object {
				return []client.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-" + w.vc.Name},
					Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "spot", Effect: corev1.TaintEffectPreferNoSchedule}}}}}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				key := client.ObjectKey{Name: "node-" + w.vc.Name}
				tenant := corev1.Taint{Key: "tenant.example/evict", Value: "now", Effect: corev1.TaintEffectNoExecute}
				vn := &corev1.Node{}
				g.Expect(virtualC.Get(ctx, key, vn)).To(gomega.Succeed())
				if !tainted {
					g.Expect(vn.Spec.Taints).To(gomega.ContainElement(gomega.HaveField("Key", "spot")))
					vn.Spec.Taints = append(vn.Spec.Taints, tenant)
					vn.Labels["color"] = "blue"
					g.Expect(virtualC.Update(ctx, vn)).To(gomega.Succeed())
					// Then the host drops its taint and adds a label, which
					// shows a pass of the syncer after the tenant's edit.
					hn := &corev1.Node{}
					g.Expect(hostC.Get(ctx, key, hn)).To(gomega.Succeed())
					hn.Spec.Taints, hn.Labels = nil, map[string]string{"pass": "after"}
					g.Expect(hostC.Update(ctx, hn)).To(gomega.Succeed())
					tainted = true
				}
				g.Expect(virtualC.Get(ctx, key, vn)).To(gomega.Succeed())
				g.Expect(vn.Labels).To(gomega.HaveKeyWithValue("pass", "after"))
				g.Expect(vn.Labels).To(gomega.HaveKeyWithValue("color", "blue"))
				g.Expect(vn.Spec.Taints).To(gomega.ConsistOf(gomega.And(gomega.HaveField("Key", tenant.Key), gomega.HaveField("Effect", tenant.Effect))))
				// The host's nodes have no such label: the host copy
				// asks for the vcluster's node that has it, by name.
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "blue", Namespace: w.namespace}, Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"color": "blue"},
					Containers:   []corev1.Container{{Name: "c", Image: "busybox"}},
				}}
				if err := virtualC.Create(ctx, pod); !apierrors.IsAlreadyExists(err) {
					g.Expect(err).NotTo(gomega.HaveOccurred())
				}
				hp := &corev1.Pod{}
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("blue")}, hp)).To(gomega.Succeed())
				g.Expect(hp.Spec.NodeSelector).NotTo(gomega.HaveKey("color"))
				g.Expect(hp.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms).To(gomega.ConsistOf(
					gomega.HaveField("MatchFields", gomega.ConsistOf(gomega.HaveField("Values", []string{key.Name})))))
				// Once bound and running (as the host binds and runs it),
				// the pod goes on syncing: bound to its node in the
				// vcluster too, its class's check passes again.
				runOnHost(g, w, "blue", func(st *corev1.PodStatus) { st.Phase = corev1.PodRunning })
				vp := &corev1.Pod{}
				g.Expect(virtualC.Get(ctx, client.ObjectKeyFromObject(pod), vp)).To(gomega.Succeed())
				g.Expect(vp.Spec.NodeName).To(gomega.Equal(key.Name))
				g.Expect(vp.Status.Phase).To(gomega.Equal(corev1.PodRunning))
			},
		},
		{
			name: "a PodDisruptionBudget selects on the host the copies of its own namespace's pods",
			virtual: func(w world) []client.Object {
				return []client.Object{&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: w.namespace},
					Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(2)), Selector: web}}}
			},
			expect: func(g gomega.Gomega, w world) {
				h := &policyv1.PodDisruptionBudget{}
				g.Expect(hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host("web")}, h)).To(gomega.Succeed())
				g.Expect(h.Spec.MinAvailable.IntValue()).To(gomega.Equal(2))
				g.Expect(h.Spec.Selector.MatchLabels).To(gomega.Equal(map[string]string{syncer.HostLabelKey("app"): "web", syncer.LabelVirtualNamespace: w.namespace}))
			},
		},
		{
			name: "a NetworkPolicy names, on the host, only the copies of the pods of the namespaces it names",
			virtual: func(w world) []client.Object {
				return []client.Object{&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: w.namespace},
					Spec: networkingv1.NetworkPolicySpec{
						PodSelector: *web,
						PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
						Ingress: []networkingv1.NetworkPolicyIngressRule{
							// This namespace, by its name label.
							{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": w.namespace}}}}},
							// No namespace of the vcluster: allows nothing, so it is dropped.
							{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "nobody"}}}}},
						},
					}}}
			},
			expect: func(g gomega.Gomega, w world) {
				h := &networkingv1.NetworkPolicy{}
				g.Expect(hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host("web")}, h)).To(gomega.Succeed())
				g.Expect(h.Spec.PodSelector.MatchLabels).To(gomega.HaveKeyWithValue(syncer.LabelVirtualNamespace, w.namespace))
				g.Expect(h.Spec.Ingress).To(gomega.HaveLen(1))
				peer := h.Spec.Ingress[0].From[0]
				g.Expect(peer.NamespaceSelector).To(gomega.BeNil())
				g.Expect(peer.PodSelector.MatchExpressions).To(gomega.ContainElement(metav1.LabelSelectorRequirement{
					Key: syncer.LabelVirtualNamespace, Operator: metav1.LabelSelectorOpIn, Values: []string{w.namespace}}))
			},
		},
		{
			name:      "an Ingress of an allowed class and host reaches the host with its Service and TLS Secret; one claiming another host stays off it",
			isolation: fleetv1.IsolationPolicy{AllowedIngressClasses: []string{"shared"}, AllowedIngressHosts: []string{"*.tenant.example"}},
			virtual: func(w world) []client.Object {
				backend := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
				rule := func(host string) networkingv1.IngressRule {
					return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
						Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: backend}}}}}
				}
				return []client.Object{
					&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cert", Namespace: w.namespace}, Type: corev1.SecretTypeOpaque, StringData: map[string]string{"tls.crt": "c", "tls.key": "k"}},
					&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: w.namespace}, Spec: networkingv1.IngressSpec{
						Rules: []networkingv1.IngressRule{rule("shop.tenant.example")},
						TLS:   []networkingv1.IngressTLS{{Hosts: []string{"shop.tenant.example"}, SecretName: "cert"}},
					}},
					&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "hijack", Namespace: w.namespace}, Spec: networkingv1.IngressSpec{
						Rules: []networkingv1.IngressRule{rule("login.bank.example")},
					}},
				}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				h := &networkingv1.Ingress{}
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("web")}, h)).To(gomega.Succeed())
				g.Expect(*h.Spec.IngressClassName).To(gomega.Equal("shared"))
				g.Expect(h.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name).To(gomega.Equal(w.host("web")))
				g.Expect(h.Spec.TLS[0].SecretName).To(gomega.Equal(w.host("cert")))
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("cert")}, &corev1.Secret{})).To(gomega.Succeed())
				g.Expect(events(g, w.namespace, "hijack")).To(gomega.ContainSubstring(ingresses.ReasonPolicy + `: the Ingress stays off the host: host "login.bank.example" is not one its class allows`))
				err := hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("hijack")}, &networkingv1.Ingress{})
				g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "the Ingress that claims another tenant's name reached the host: %v", err)
			},
		},
		{
			name:      "pods are given the host's priority classes the class allows, by their priority in the vcluster",
			isolation: fleetv1.IsolationPolicy{AllowedPriorityClasses: []string{"tenant-low", "tenant-high", "missing"}},
			host: func(w world) []client.Object {
				var out []client.Object
				for name, value := range map[string]int32{"tenant-low": 100, "tenant-high": 1000} {
					pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
					if err := hostC.Get(context.Background(), client.ObjectKeyFromObject(pc), &schedulingv1.PriorityClass{}); apierrors.IsNotFound(err) {
						out = append(out, pc)
					}
				}
				return out
			},
			virtual: func(w world) []client.Object {
				// The tenant's own classes, which its API resolves.
				return []client.Object{
					&schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "batch-" + w.vc.Name}, Value: 500},
					&schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "critical-" + w.vc.Name}, Value: 1_000_000},
					pod(w.namespace, "batch", func(p *corev1.Pod) { p.Spec.PriorityClassName = "batch-" + w.vc.Name }),
					pod(w.namespace, "critical", func(p *corev1.Pod) { p.Spec.PriorityClassName = "critical-" + w.vc.Name }),
					pod(w.namespace, "plain"),
				}
			},
			expect: func(g gomega.Gomega, w world) {
				for name, want := range map[string]string{"batch": "tenant-low", "critical": "tenant-high", "plain": "tenant-low"} {
					hp := &corev1.Pod{}
					g.Expect(hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host(name)}, hp)).To(gomega.Succeed())
					g.Expect(hp.Spec.PriorityClassName).To(gomega.Equal(want), "pod %s", name)
				}
			},
		},
		{
			name: "the host's StorageClasses are shown without their parameters, and a change the tenant makes is undone",
			host: func(w world) []client.Object {
				return []client.Object{&storagev1.StorageClass{
					ObjectMeta:  metav1.ObjectMeta{Name: "fast-" + w.vc.Name, Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "false", "admin-note": "x"}},
					Provisioner: "example.com/fast", Parameters: map[string]string{"csi.storage.k8s.io/provisioner-secret-namespace": "storage-admin"},
				}}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				v := &storagev1.StorageClass{}
				g.Expect(virtualC.Get(ctx, client.ObjectKey{Name: "fast-" + w.vc.Name}, v)).To(gomega.Succeed())
				g.Expect(v.Provisioner).To(gomega.Equal("example.com/fast"))
				g.Expect(v.Parameters).To(gomega.BeEmpty())
				g.Expect(v.Annotations).To(gomega.Equal(map[string]string{"storageclass.kubernetes.io/is-default-class": "false"}))
				if !edited {
					v.Labels["tenant-was-here"] = "yes"
					g.Expect(virtualC.Update(ctx, v)).To(gomega.Succeed())
					edited = true
					g.Expect(virtualC.Get(ctx, client.ObjectKey{Name: "fast-" + w.vc.Name}, v)).To(gomega.Succeed())
				}
				g.Expect(v.Labels).NotTo(gomega.HaveKey("tenant-was-here"))
			},
		},
		{
			name: "a host volume bound to the vcluster's claim is shown, bound to the virtual claim, and the claim to it",
			virtual: func(w world) []client.Object {
				return []client.Object{&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: w.namespace}, Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				}}}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				hc := &corev1.PersistentVolumeClaim{}
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("data")}, hc)).To(gomega.Succeed())
				pvName := "pv-" + w.vc.Name
				if hc.Spec.VolumeName == "" {
					// What the host's provisioner and binder would do.
					hostPV := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: pvName}, Spec: corev1.PersistentVolumeSpec{
						Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
						AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
						ClaimRef:               &corev1.ObjectReference{Namespace: w.hostNS, Name: hc.Name, UID: hc.UID},
						PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/secret-host-layout"}},
					}}
					g.Expect(client.IgnoreAlreadyExists(hostC.Create(ctx, hostPV))).To(gomega.Succeed())
					hc.Spec.VolumeName = pvName
					g.Expect(hostC.Update(ctx, hc)).To(gomega.Succeed())
					hostPV.Status.Phase = corev1.VolumeBound
					g.Expect(hostC.Status().Update(ctx, hostPV)).To(gomega.Succeed())
				}
				v := &corev1.PersistentVolume{}
				g.Expect(virtualC.Get(ctx, client.ObjectKey{Name: pvName}, v)).To(gomega.Succeed())
				g.Expect(v.Spec.ClaimRef.Namespace).To(gomega.Equal(w.namespace))
				g.Expect(v.Spec.ClaimRef.Name).To(gomega.Equal("data"))
				g.Expect(v.Spec.HostPath).To(gomega.BeNil(), "the host's volume source is shown to the tenant")
				g.Expect(v.Spec.CSI.Driver).To(gomega.Equal(storage.HostDriver))
				g.Expect(v.Status.Phase).To(gomega.Equal(corev1.VolumeBound))
				vc := &corev1.PersistentVolumeClaim{}
				g.Expect(virtualC.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: "data"}, vc)).To(gomega.Succeed())
				g.Expect(vc.Spec.VolumeName).To(gomega.Equal(pvName))
			},
		},
	})
}
