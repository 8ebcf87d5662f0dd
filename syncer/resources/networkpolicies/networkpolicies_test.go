package networkpolicies

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vfleet/vfleet/syncer"
)

// TestHostSpec: a host policy never has a namespace selector, so it never
// names a pod outside the vcluster's host namespace; a rule whose peers
// all name nothing is dropped rather than left to allow everything; and a
// policy that limits egress lets pods reach their DNS.
func TestHostSpec(t *testing.T) {
	namespaces := []corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{"team": "a"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "db", Labels: map[string]string{"team": "a"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "ops", Labels: map[string]string{"team": "b"}}},
	}
	team := func(t string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"team": t}}
	}
	dns := DNSRule("10.245.1.1", 40053)
	v := networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		Ingress: []networkingv1.NetworkPolicyIngressRule{
			{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "lb"}}}}},
			{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: team("a")}}},
			{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: team("nobody")}}},
			{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "192.0.2.0/24"}}}},
		},
		Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}}},
	}
	h := HostSpec(v, "app", namespaces, dns)
	if got := h.PodSelector.MatchLabels; got[syncer.LabelVirtualNamespace] != "app" || got[syncer.HostLabelKey("app")] != "web" {
		t.Errorf("podSelector %v", got)
	}
	if len(h.Ingress) != 3 {
		t.Fatalf("%d ingress rules, want 3 (the one naming no namespace dropped): %+v", len(h.Ingress), h.Ingress)
	}
	for _, r := range append(h.Ingress, networkingv1.NetworkPolicyIngressRule{From: h.Egress[0].To}) {
		for _, p := range r.From {
			if p.NamespaceSelector != nil {
				t.Errorf("a host peer has a namespace selector: %+v", p)
			}
		}
	}
	if got := h.Ingress[0].From[0].PodSelector.MatchLabels; got[syncer.LabelVirtualNamespace] != "app" {
		t.Errorf("a pod peer of the policy's namespace selects %v", got)
	}
	if got := h.Ingress[1].From[0].PodSelector.MatchExpressions; len(got) != 1 || got[0].Key != syncer.LabelVirtualNamespace || len(got[0].Values) != 2 || got[0].Values[0] != "app" || got[0].Values[1] != "db" {
		t.Errorf("team a's namespaces: %+v", got)
	}
	if h.Ingress[2].From[0].IPBlock == nil {
		t.Error("the IP block was not kept")
	}
	if got := h.Egress[0].To[0].PodSelector.MatchExpressions[0].Values; len(got) != 3 {
		t.Errorf("every namespace of the vcluster: %v", got)
	}
	if len(h.Egress) != 2 || h.Egress[1].To[0].IPBlock.CIDR != "10.245.1.1/32" {
		t.Errorf("no egress to DNS: %+v", h.Egress)
	}
	// Ingress only: DNS stays as it was.
	v.PolicyTypes, v.Egress = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, nil
	if h := HostSpec(v, "app", namespaces, dns); len(h.Egress) != 0 {
		t.Errorf("an ingress policy limits egress on the host: %+v", h.Egress)
	}
}
