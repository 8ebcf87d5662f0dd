package agent

import (
	"context"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/names"
)

// Names of the objects in a vcluster's host namespace.
const (
	quotaName         = "vfleet-quota"
	limitRangeName    = "vfleet-defaults"
	networkPolicyName = "vfleet-isolation"
	// SyncerAccount is the syncer's identity on the host: it may manage
	// the vcluster's objects in its namespace, and read what the vcluster
	// shows of the rest (nodes, storage, priority classes).
	SyncerAccount = "vfleet-syncer"
	// nodeReaderRole is the ClusterRole every syncer is bound to. It kept
	// its first name when it came to read more than nodes: agents bind
	// existing syncers to it by that name.
	nodeReaderRole = "vfleet-syncer-nodes"
)

// syncerRules are the syncer's rights in the vcluster's host namespace.
var syncerRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"pods", "services", "endpoints", "configmaps", "secrets", "persistentvolumeclaims"},
		Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
	{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
	{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
	{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies", "ingresses"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
	{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
	// In-place resizes of the vcluster's pods, and their ephemeral
	// containers (kubectl debug).
	{APIGroups: []string{""}, Resources: []string{"pods/resize", "pods/ephemeralcontainers"}, Verbs: []string{"get", "update", "patch"}},
	// The kubelet proxy: logs, exec, attach and port-forward of the
	// vcluster's pods, which are all in this namespace.
	{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
	{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/attach", "pods/portforward"}, Verbs: []string{"get", "create"}},
}

// syncerSubjects are the accounts that run a vcluster's syncer: the
// process runtime's token is for SyncerAccount, the kubernetes runtime's
// pod runs as its own account.
func syncerSubjects(ns string) []rbacv1.Subject {
	return []rbacv1.Subject{
		{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: SyncerAccount},
		{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "vfleet-controlplane"},
	}
}

// nodeReaderBinding names the ClusterRoleBinding of one vcluster's syncer.
func nodeReaderBinding(ns string) string { return nodeReaderRole + ":" + ns }

// Container defaults the LimitRange gives: a pod that asks for nothing
// still counts against the quota, which admits only pods with requests.
var (
	defaultCPURequest    = resource.MustParse("100m")
	defaultMemoryRequest = resource.MustParse("128Mi")
)

// vclusterNamespace is the host namespace of the ControlPlane's vcluster.
func vclusterNamespace(cp *fleetv1.ControlPlane) string {
	ref := cp.Spec.VirtualCluster
	return names.VClusterNamespace(ref.Namespace, ref.Name)
}

// ownerLabels mark what the agent creates on the host for a vcluster.
func ownerLabels(cp *fleetv1.ControlPlane) map[string]string {
	ref := cp.Spec.VirtualCluster
	return map[string]string{
		fleetv1.LabelManagedBy:               fleetv1.ManagedByValue,
		fleetv1.LabelVirtualCluster:          ref.Name,
		fleetv1.LabelVirtualClusterNamespace: ref.Namespace,
		fleetv1.LabelVirtualClusterUID:       ref.UID,
	}
}

// hostNamespaceObjects are what a vcluster gets on its host, as they should
// be: the namespace with Pod Security labels, a quota from its resources,
// container defaults, and a policy that admits traffic from its own
// namespace only.
func hostNamespaceObjects(cp *fleetv1.ControlPlane) []client.Object {
	ns := vclusterNamespace(cp)
	labels := ownerLabels(cp)
	level := strings.ToLower(string(cp.Spec.Isolation.PodSecurity))
	if level == "" {
		level = "baseline"
	}
	nsLabels := map[string]string{
		"pod-security.kubernetes.io/enforce":         level,
		"pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/warn":            level,
		"pod-security.kubernetes.io/audit":           level,
	}
	for k, v := range labels {
		nsLabels[k] = v
	}
	res := cp.Spec.Resources
	hard := corev1.ResourceList{
		corev1.ResourceRequestsCPU:    res.CPU,
		corev1.ResourceRequestsMemory: res.Memory,
		corev1.ResourcePods:           *resource.NewQuantity(int64(res.Pods), resource.DecimalSI),
	}
	if res.Storage != nil {
		hard[corev1.ResourceRequestsStorage] = *res.Storage
	}
	maps.Copy(hard, objectCounts(res.Pods, cp.Spec.Isolation))
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: nsLabels}},
		&corev1.ResourceQuota{ObjectMeta: meta(quotaName), Spec: corev1.ResourceQuotaSpec{Hard: hard}},
		&corev1.LimitRange{ObjectMeta: meta(limitRangeName), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: defaultCPURequest, corev1.ResourceMemory: defaultMemoryRequest},
		}}}},
		&networkingv1.NetworkPolicy{ObjectMeta: meta(networkPolicyName), Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			// Pods of this namespace only; everything else is denied.
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}},
		}},
		&corev1.ServiceAccount{ObjectMeta: meta(SyncerAccount)},
		&rbacv1.Role{ObjectMeta: meta(SyncerAccount), Rules: syncerRules},
		&rbacv1.RoleBinding{ObjectMeta: meta(SyncerAccount), RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: SyncerAccount}, Subjects: syncerSubjects(ns)},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: nodeReaderRole, Labels: map[string]string{fleetv1.LabelManagedBy: fleetv1.ManagedByValue}},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"nodes", "persistentvolumes"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{"scheduling.k8s.io"}, Resources: []string{"priorityclasses"}, Verbs: []string{"get", "list", "watch"}},
			}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: nodeReaderBinding(ns), Labels: labels},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: nodeReaderRole}, Subjects: syncerSubjects(ns)},
	}
}

// objectCounts caps the objects the syncer makes in the host namespace,
// so that a tenant cannot exhaust the host's API with them: a few of each
// per pod the vcluster may run, as pods use them (a token Secret each, the
// ConfigMaps and Secrets they mount, a Service or claim or two), and no
// NodePort or LoadBalancer Service unless the class allows them.
func objectCounts(pods int32, iso fleetv1.IsolationPolicy) corev1.ResourceList {
	per := func(n int64, slack int64) resource.Quantity {
		return *resource.NewQuantity(n*int64(pods)+slack, resource.DecimalSI)
	}
	counts := corev1.ResourceList{
		corev1.ResourceServices:                   per(1, 10),
		corev1.ResourceConfigMaps:                 per(2, 10),
		corev1.ResourceSecrets:                    per(4, 20),
		corev1.ResourcePersistentVolumeClaims:     per(1, 10),
		"count/poddisruptionbudgets.policy":       per(1, 10),
		"count/networkpolicies.networking.k8s.io": per(1, 10),
		"count/ingresses.networking.k8s.io":       per(1, 10),
		corev1.ResourceServicesNodePorts:          resource.MustParse("0"),
		corev1.ResourceServicesLoadBalancers:      resource.MustParse("0"),
	}
	if iso.AllowNodePorts {
		counts[corev1.ResourceServicesNodePorts] = per(1, 10)
		counts[corev1.ResourceServicesLoadBalancers] = per(1, 10)
	}
	return counts
}

// ensureHostObjects creates or repairs objects of the vcluster's host
// namespace (hostNamespaceObjects, the namespace first). A namespace of
// that name that vfleet did not create for this vcluster is left alone and
// reported.
func ensureHostObjects(ctx context.Context, c client.Client, cp *fleetv1.ControlPlane, objs []client.Object) error {
	for _, want := range objs {
		obj := want.DeepCopyObject().(client.Object)
		_, err := controllerutil.CreateOrUpdate(ctx, c, obj, func() error {
			_, shared := obj.(*rbacv1.ClusterRole)
			if uid := obj.GetLabels()[fleetv1.LabelVirtualClusterUID]; !shared && obj.GetResourceVersion() != "" && uid != cp.Spec.VirtualCluster.UID {
				return fmt.Errorf("%s %s exists on the host and does not belong to this vcluster (its %s is %q)",
					kindOf(obj), obj.GetName(), fleetv1.LabelVirtualClusterUID, uid)
			}
			labels := obj.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			for k, v := range want.GetLabels() {
				labels[k] = v
			}
			obj.SetLabels(labels)
			switch o := obj.(type) {
			case *corev1.ResourceQuota:
				o.Spec = want.(*corev1.ResourceQuota).Spec
			case *corev1.LimitRange:
				o.Spec = want.(*corev1.LimitRange).Spec
			case *networkingv1.NetworkPolicy:
				o.Spec = want.(*networkingv1.NetworkPolicy).Spec
			case *rbacv1.Role:
				o.Rules = want.(*rbacv1.Role).Rules
			case *rbacv1.RoleBinding:
				o.RoleRef, o.Subjects = want.(*rbacv1.RoleBinding).RoleRef, want.(*rbacv1.RoleBinding).Subjects
			case *rbacv1.ClusterRole:
				o.Rules = want.(*rbacv1.ClusterRole).Rules
			case *rbacv1.ClusterRoleBinding:
				o.RoleRef, o.Subjects = want.(*rbacv1.ClusterRoleBinding).RoleRef, want.(*rbacv1.ClusterRoleBinding).Subjects
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("host namespace %s: %w", vclusterNamespace(cp), err)
		}
	}
	return nil
}

// deleteHostNamespace deletes the vcluster's host namespace, if it is the
// vcluster's, and reports whether it is gone.
func deleteHostNamespace(ctx context.Context, c client.Client, cp *fleetv1.ControlPlane) (bool, error) {
	// The one cluster-wide object; the namespace takes the rest.
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: nodeReaderBinding(vclusterNamespace(cp))}}
	if err := c.Get(ctx, client.ObjectKeyFromObject(crb), crb); err == nil && crb.Labels[fleetv1.LabelVirtualClusterUID] == cp.Spec.VirtualCluster.UID {
		if err := c.Delete(ctx, crb); client.IgnoreNotFound(err) != nil {
			return false, err
		}
	} else if client.IgnoreNotFound(err) != nil {
		return false, err
	}
	ns := &corev1.Namespace{}
	err := c.Get(ctx, client.ObjectKey{Name: vclusterNamespace(cp)}, ns)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if ns.Labels[fleetv1.LabelVirtualClusterUID] != cp.Spec.VirtualCluster.UID {
		// Not ours to delete.
		return true, nil
	}
	if ns.DeletionTimestamp.IsZero() {
		if err := c.Delete(ctx, ns, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return false, err
		}
	}
	return false, nil
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *corev1.Namespace:
		return "namespace"
	case *corev1.ResourceQuota:
		return "ResourceQuota"
	case *corev1.LimitRange:
		return "LimitRange"
	case *networkingv1.NetworkPolicy:
		return "NetworkPolicy"
	case *rbacv1.ClusterRoleBinding:
		return "ClusterRoleBinding"
	}
	return fmt.Sprintf("%T", obj)
}
