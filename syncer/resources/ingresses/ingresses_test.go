package ingresses

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

func TestHostAllowed(t *testing.T) {
	allowed := []string{"shop.example", "*.tenant.example"}
	for host, want := range map[string]bool{
		"shop.example":        true,
		"SHOP.example":        true,
		"api.shop.example":    false,
		"a.tenant.example":    true,
		"a.b.tenant.example":  true,
		"tenant.example":      false,
		"*.tenant.example":    true,
		"*.a.tenant.example":  true,
		"*.example":           false,
		"eviltenant.example":  false,
		"":                    false,
		"bank.example":        false,
		"a.tenant.example.io": false,
	} {
		if got := hostAllowed(host, allowed); got != want {
			t.Errorf("hostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
	if !hostAllowed("", []string{"*"}) || !hostAllowed("any.example", []string{"*"}) {
		t.Error(`"*" does not allow every name`)
	}
}

// TestHostSpec: what keeps an Ingress off the host says which setting of
// the class it needs.
func TestHostSpec(t *testing.T) {
	svc := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
	policy := fleetv1.IsolationPolicy{AllowedIngressClasses: []string{"shared", "internal"}, AllowedIngressHosts: []string{"*.tenant.example"}}
	rename := func(n string) string { return n + "-x-app-x-vc" }
	for _, tc := range []struct {
		name   string
		policy fleetv1.IsolationPolicy
		spec   networkingv1.IngressSpec
		want   string
	}{
		{"no class allowed", fleetv1.IsolationPolicy{}, networkingv1.IngressSpec{}, "allows no ingress class (isolation.allowedIngressClasses)"},
		{"another class", policy, networkingv1.IngressSpec{IngressClassName: ptr.To("public")}, `ingress class "public" is not one its class allows (isolation.allowedIngressClasses: shared, internal)`},
		{"a default backend claims every name", policy, networkingv1.IngressSpec{DefaultBackend: &svc}, "every host name"},
		{"a rule without a host", policy, networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{}}}, "every host name"},
		{"a TLS host outside", policy, networkingv1.IngressSpec{TLS: []networkingv1.IngressTLS{{Hosts: []string{"bank.example"}}}}, `host "bank.example"`},
		{"a resource backend", fleetv1.IsolationPolicy{AllowedIngressClasses: []string{"shared"}, AllowedIngressHosts: []string{"*"}},
			networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "b"}}}, "resource backends name objects of the host"},
		{"allowed", policy, networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "a.tenant.example", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", Backend: svc}}}}}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := HostSpec(tc.policy, tc.spec, rename)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if *h.IngressClassName != "shared" || h.Rules[0].HTTP.Paths[0].Backend.Service.Name != "web-x-app-x-vc" {
					t.Errorf("host spec %+v", h)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
