package pods

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// TestHostDNS: a pod that resolves through its cluster resolves through
// the vcluster's DNS, with its own namespace's search path and what it
// adds; one that chose its node's resolver, or its own, keeps its choice.
func TestHostDNS(t *testing.T) {
	search := []string{"app.svc.cluster.local", "svc.cluster.local", "cluster.local"}
	ndots := corev1.PodDNSConfigOption{Name: "ndots", Value: ptr.To("5")}
	for _, tc := range []struct {
		name   string
		server string
		policy corev1.DNSPolicy
		own    *corev1.PodDNSConfig
		want   corev1.DNSPolicy
		cfg    *corev1.PodDNSConfig
	}{
		{name: "the default", server: "10.96.7.7", want: corev1.DNSNone,
			cfg: &corev1.PodDNSConfig{Nameservers: []string{"10.96.7.7"}, Searches: search, Options: []corev1.PodDNSConfigOption{ndots}}},
		{name: "ClusterFirst, with settings of its own", server: "10.96.7.7", policy: corev1.DNSClusterFirst,
			own: &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.1", "10.96.7.7", "192.0.2.2", "192.0.2.3"}, Searches: []string{"corp.example", "cluster.local"},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}}},
			want: corev1.DNSNone,
			cfg: &corev1.PodDNSConfig{Nameservers: []string{"10.96.7.7", "192.0.2.1", "192.0.2.2"}, Searches: append(search[:3:3], "corp.example"),
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}}}},
		{name: "the node's resolver", server: "10.96.7.7", policy: corev1.DNSDefault, want: corev1.DNSDefault},
		{name: "its own resolver", server: "10.96.7.7", policy: corev1.DNSNone, own: &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.1"}},
			want: corev1.DNSNone, cfg: &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.1"}}},
		{name: "no DNS server", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testContext(fleetv1.IsolationPolicy{})
			s.DNSServer = tc.server
			host := hostPod(s, testPod(func(p *corev1.Pod) { p.Spec.DNSPolicy, p.Spec.DNSConfig = tc.policy, tc.own }), nil)
			if host.Spec.DNSPolicy != tc.want || !reflect.DeepEqual(host.Spec.DNSConfig, tc.cfg) {
				t.Errorf("dnsPolicy %q, dnsConfig %+v\nwant %q, %+v", host.Spec.DNSPolicy, host.Spec.DNSConfig, tc.want, tc.cfg)
			}
		})
	}
}
