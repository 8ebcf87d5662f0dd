package pods

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
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

// TestVirtualMessages: what the host's kubelet says of a host pod is told
// the tenant of its own pod.
func TestVirtualMessages(t *testing.T) {
	host := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-x-app-x-demo", Namespace: "vc-demo-x-team-a", UID: "host-uid",
		Annotations: map[string]string{"fleet.vfleet.dev/virtual-uid": "virtual-uid"}}}
	names := syncer.VirtualNames(host, client.ObjectKey{Namespace: "app", Name: "web"}, "vc-demo-x-team-a")
	status := corev1.PodStatus{
		Message:    "Pod vc-demo-x-team-a/web-x-app-x-demo was evicted",
		Conditions: []corev1.PodCondition{{Message: "web-x-app-x-demo is not ready"}},
		ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Message: `container has runAsNonRoot and image will run as root (pod: "web-x-app-x-demo_vc-demo-x-team-a(host-uid)", container: main)`}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: "killed in vc-demo-x-team-a"}},
		}},
	}
	virtualMessages(&status, names)
	for _, got := range []string{status.Message, status.Conditions[0].Message, status.ContainerStatuses[0].State.Waiting.Message, status.ContainerStatuses[0].LastTerminationState.Terminated.Message} {
		if strings.Contains(got, "-x-") || strings.Contains(got, "host-uid") {
			t.Errorf("the tenant is told %q", got)
		}
	}
	if want := `(pod: "web_app(virtual-uid)", container: main)`; !strings.HasSuffix(status.ContainerStatuses[0].State.Waiting.Message, want) {
		t.Errorf("message %q, want it to end %q", status.ContainerStatuses[0].State.Waiting.Message, want)
	}
}
