// Package networkpolicies syncs the vcluster's NetworkPolicies into its
// host namespace. All of a vcluster's namespaces share that one namespace,
// so a policy's pods and peers are narrowed there to the copies of the
// pods of the virtual namespaces they name; a host policy never has a
// namespace selector, and so never selects, or lets in, a pod outside the
// vcluster's host namespace. IP blocks are the tenant's to allow, as on
// any cluster.
package networkpolicies

import (
	"context"
	"net"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/vfleet/vfleet/syncer"
)

// Resource syncs NetworkPolicies.
type Resource struct{ syncer.NoStatus }

var (
	_ syncer.Resource = (*Resource)(nil)
	_ syncer.Watcher  = (*Resource)(nil)
)

// New returns the NetworkPolicy resource.
func New() syncer.Resource { return &Resource{} }

func (*Resource) Kind() string             { return "NetworkPolicy" }
func (*Resource) NewObject() client.Object { return &networkingv1.NetworkPolicy{} }

// Watches: a namespace's labels decide which namespaces a selector names,
// so every policy is looked at again when they change.
func (*Resource) Watches(mgr ctrl.Manager, s *syncer.Context) []source.Source {
	all := syncer.EnqueueVirtual(func(ctx context.Context, _ client.Object) []client.ObjectKey {
		var list networkingv1.NetworkPolicyList
		if err := s.Virtual.List(ctx, &list); err != nil {
			return nil
		}
		keys := make([]client.ObjectKey, len(list.Items))
		for i := range list.Items {
			keys[i] = client.ObjectKeyFromObject(&list.Items[i])
		}
		return keys
	})
	return []source.Source{source.Kind(mgr.GetCache(), client.Object(&corev1.Namespace{}), all)}
}

func (*Resource) ToHost(ctx context.Context, s *syncer.Context, obj client.Object) (client.Object, error) {
	v := obj.(*networkingv1.NetworkPolicy)
	var namespaces corev1.NamespaceList
	if err := s.Virtual.List(ctx, &namespaces); err != nil {
		return nil, err
	}
	var dns *networkingv1.NetworkPolicyEgressRule
	if s.DNSServer != "" && s.DNSEndpoint != nil {
		dns = DNSRule(s.DNSEndpoint.Address, s.DNSEndpoint.Port)
	}
	h := &networkingv1.NetworkPolicy{Spec: HostSpec(v.Spec, v.Namespace, namespaces.Items, dns)}
	h.Labels = syncer.HostLabels(v.Labels)
	return h, nil
}

// HostSpec is the host form of a policy of namespace, given the
// vcluster's namespaces. dns, when set, is an egress rule added to any
// policy that limits egress: the vcluster's DNS server is outside every
// namespace the tenant can name, and its pods must reach it.
func HostSpec(v networkingv1.NetworkPolicySpec, namespace string, namespaces []corev1.Namespace, dns *networkingv1.NetworkPolicyEgressRule) networkingv1.NetworkPolicySpec {
	h := networkingv1.NetworkPolicySpec{
		PodSelector: *syncer.HostPodSelector(&v.PodSelector, namespace),
		PolicyTypes: slices.Clone(v.PolicyTypes),
	}
	for _, r := range v.Ingress {
		if peers, ok := hostPeers(r.From, namespace, namespaces); ok {
			h.Ingress = append(h.Ingress, networkingv1.NetworkPolicyIngressRule{Ports: r.Ports, From: peers})
		}
	}
	for _, r := range v.Egress {
		if peers, ok := hostPeers(r.To, namespace, namespaces); ok {
			h.Egress = append(h.Egress, networkingv1.NetworkPolicyEgressRule{Ports: r.Ports, To: peers})
		}
	}
	limitsEgress := slices.Contains(v.PolicyTypes, networkingv1.PolicyTypeEgress) || (len(v.PolicyTypes) == 0 && v.Egress != nil)
	if limitsEgress && dns != nil {
		h.Egress = append(h.Egress, *dns)
		// Stated: with an egress rule now there, the host's default
		// would count egress as limited whatever the tenant wrote.
		if len(h.PolicyTypes) == 0 {
			h.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
		}
	}
	return h
}

// hostPeers translates a rule's peers. No peers means every peer, and
// stays so; peers that all name nothing (a namespace selector that matches
// no namespace of the vcluster) make a rule that allows nothing, which is
// dropped (ok false) rather than left empty, which would allow all.
func hostPeers(peers []networkingv1.NetworkPolicyPeer, namespace string, namespaces []corev1.Namespace) ([]networkingv1.NetworkPolicyPeer, bool) {
	if len(peers) == 0 {
		return nil, true
	}
	var out []networkingv1.NetworkPolicyPeer
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
			out = append(out, networkingv1.NetworkPolicyPeer{IPBlock: p.IPBlock.DeepCopy()})
		case p.NamespaceSelector == nil:
			out = append(out, networkingv1.NetworkPolicyPeer{PodSelector: syncer.HostPodSelector(p.PodSelector, namespace)})
		default:
			names := matching(p.NamespaceSelector, namespaces)
			if len(names) == 0 {
				continue
			}
			sel := syncer.HostLabelSelector(p.PodSelector)
			if sel == nil {
				sel = &metav1.LabelSelector{}
			}
			sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
				Key: syncer.LabelVirtualNamespace, Operator: metav1.LabelSelectorOpIn, Values: names,
			})
			out = append(out, networkingv1.NetworkPolicyPeer{PodSelector: sel})
		}
	}
	return out, len(out) > 0
}

// matching are the names of the namespaces sel selects, sorted. A
// selector that does not parse selects none.
func matching(sel *metav1.LabelSelector, namespaces []corev1.Namespace) []string {
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil
	}
	var names []string
	for _, ns := range namespaces {
		if selector.Matches(labels.Set(ns.Labels)) {
			names = append(names, ns.Name)
		}
	}
	slices.Sort(names)
	return names
}

// DNSRule is the egress rule to a DNS server at address and port (after
// the host's Service translation, where policies are enforced).
func DNSRule(address string, port int) *networkingv1.NetworkPolicyEgressRule {
	bits := "/32"
	if ip := net.ParseIP(address); ip != nil && ip.To4() == nil {
		bits = "/128"
	}
	p := intstr.FromInt(port)
	return &networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: address + bits}}},
		Ports: []networkingv1.NetworkPolicyPort{
			{Protocol: ptr.To(corev1.ProtocolUDP), Port: &p},
			{Protocol: ptr.To(corev1.ProtocolTCP), Port: &p},
		},
	}
}

func (*Resource) UpdateHost(desired, existing client.Object) bool {
	return syncer.UpdateSpec(&desired.(*networkingv1.NetworkPolicy).Spec, &existing.(*networkingv1.NetworkPolicy).Spec)
}
