package nodes

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
)

// TestVisible: a class shows the nodes its pods could be scheduled to,
// and with Used none whatever runs there (the pods' own are added apart).
func TestVisible(t *testing.T) {
	pool := fleetv1.IsolationPolicy{
		NodeSelector:       map[string]string{"pool": "tenants"},
		AllowedTolerations: []fleetv1.AllowedToleration{{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}, {Key: "gpu"}},
	}
	node := func(labels map[string]string, unschedulable bool, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: labels}, Spec: corev1.NodeSpec{Unschedulable: unschedulable, Taints: taints}}
	}
	inPool := map[string]string{"pool": "tenants", "zone": "a"}
	taint := func(key string, effect corev1.TaintEffect) corev1.Taint {
		return corev1.Taint{Key: key, Effect: effect}
	}
	for _, tc := range []struct {
		name   string
		policy fleetv1.IsolationPolicy
		node   *corev1.Node
		want   bool
	}{
		{"any node, by default", fleetv1.IsolationPolicy{}, node(nil, false), true},
		{"a node that is not ready is shown as it is", fleetv1.IsolationPolicy{}, node(nil, false, taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule)), true},
		{"Used shows none", fleetv1.IsolationPolicy{Nodes: fleetv1.NodesUsed}, node(nil, false), false},
		{"a cordoned node", fleetv1.IsolationPolicy{}, node(nil, true), false},
		{"in the class's pool", pool, node(inPool, false), true},
		{"outside it", pool, node(map[string]string{"pool": "others"}, false), false},
		{"without the label", pool, node(nil, false), false},
		{"a taint pods may tolerate", pool, node(inPool, false, taint("dedicated", corev1.TaintEffectNoSchedule), taint("gpu", corev1.TaintEffectNoExecute)), true},
		{"one they may not", pool, node(inPool, false, taint("dedicated", corev1.TaintEffectNoExecute)), false},
		{"a preference only", fleetv1.IsolationPolicy{}, node(nil, false, taint("spot", corev1.TaintEffectPreferNoSchedule)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Visible(tc.policy, tc.node); got != tc.want {
				t.Errorf("Visible = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestVirtualStatus: a vcluster's node shows the host node's addresses,
// which its pods dial (a NodePort, their hostIP), and the kubelet proxy's
// under an address type of its own, which the vcluster's apiserver alone
// prefers; its kubelet port is the proxy's.
func TestVirtualStatus(t *testing.T) {
	host := &corev1.Node{Status: corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.245.1.1"}, {Type: corev1.NodeHostName, Address: "node-1"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
	}}
	got := virtualStatus(host, &syncer.Endpoint{Address: "127.0.0.1", Port: 41000})
	want := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.245.1.1"}, {Type: corev1.NodeHostName, Address: "node-1"}, {Type: syncer.KubeletAddressType, Address: "127.0.0.1"}}
	if !reflect.DeepEqual(got.Addresses, want) {
		t.Errorf("addresses %v, want %v", got.Addresses, want)
	}
	if got.DaemonEndpoints.KubeletEndpoint.Port != 41000 {
		t.Errorf("kubelet port %d, want the proxy's 41000", got.DaemonEndpoints.KubeletEndpoint.Port)
	}
	if len(host.Status.Addresses) != 2 {
		t.Errorf("the host node's own addresses changed: %v", host.Status.Addresses)
	}
	if got := virtualStatus(host, nil); !reflect.DeepEqual(got.Addresses, host.Status.Addresses) {
		t.Errorf("without a proxy: addresses %v, want the host's", got.Addresses)
	}
}

// TestVirtualTaints: a virtual node has the host node's taints as they
// are now, and keeps those the tenant added itself; a taint the host
// dropped goes.
func TestVirtualTaints(t *testing.T) {
	taint := func(key, value string, effect corev1.TaintEffect) corev1.Taint {
		return corev1.Taint{Key: key, Value: value, Effect: effect}
	}
	unreachable := taint(corev1.TaintNodeUnreachable, "", corev1.TaintEffectNoExecute)
	gpu := taint("gpu", "a100", corev1.TaintEffectNoSchedule)
	evict := taint("tenant/evict", "now", corev1.TaintEffectNoExecute)
	node := func(mirrored string, taints ...corev1.Taint) *corev1.Node {
		n := &corev1.Node{Spec: corev1.NodeSpec{Taints: taints}}
		if mirrored != "-" {
			n.Annotations = map[string]string{AnnotationHostTaints: mirrored}
		}
		return n
	}
	for _, tc := range []struct {
		name    string
		host    []corev1.Taint
		virtual *corev1.Node
		want    []corev1.Taint
	}{
		{"as the host", []corev1.Taint{gpu}, node(`[{"key":"gpu","value":"a100","effect":"NoSchedule"}]`, gpu), []corev1.Taint{gpu}},
		{"the tenant's taint stays", []corev1.Taint{gpu}, node(`[{"key":"gpu","value":"a100","effect":"NoSchedule"}]`, gpu, evict), []corev1.Taint{gpu, evict}},
		{"one the host dropped goes", nil, node(`[{"key":"gpu","value":"a100","effect":"NoSchedule"}]`, gpu, evict), []corev1.Taint{evict}},
		{"one the host added comes", []corev1.Taint{gpu, unreachable}, node(`[{"key":"gpu","value":"a100","effect":"NoSchedule"}]`, gpu), []corev1.Taint{gpu, unreachable}},
		{"the host's value wins", []corev1.Taint{gpu}, node(`[]`, taint("gpu", "h100", corev1.TaintEffectNoSchedule)), []corev1.Taint{gpu}},
		{"no record: every taint was the host's", nil, node("-", gpu), nil},
		// The vcluster's own admission taints a node it has just made.
		{"Kubernetes' own taints follow the host", nil, node(`null`, taint(corev1.TaintNodeNotReady, "", corev1.TaintEffectNoSchedule), evict), []corev1.Taint{evict}},
		{"a record that does not decode: the same", nil, node("{", gpu), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := virtualTaints(tc.host, tc.virtual); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("taints %v, want %v", got, tc.want)
			}
		})
	}
}

// TestVirtualLabels: a label the tenant puts on its node stays beside the
// host's; one the host has, or had when last mirrored, follows the host.
func TestVirtualLabels(t *testing.T) {
	virtual := func(labels map[string]string, record string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: labels}}
		if record != "" {
			n.Annotations = map[string]string{AnnotationHostLabels: record}
		}
		return n
	}
	for _, tc := range []struct {
		name string
		host map[string]string
		node *corev1.Node
		want map[string]string
	}{
		{"the host's", map[string]string{"zone": "a"}, virtual(map[string]string{"zone": "a"}, `{"zone":"a"}`),
			map[string]string{"zone": "a", syncer.LabelSyncedFrom: "true"}},
		{"the tenant's stays", map[string]string{"zone": "a"}, virtual(map[string]string{"zone": "a", "color": "blue", syncer.LabelSyncedFrom: "true"}, `{"zone":"a"}`),
			map[string]string{"zone": "a", "color": "blue", syncer.LabelSyncedFrom: "true"}},
		{"the host changed a value the tenant changed too", map[string]string{"zone": "b"}, virtual(map[string]string{"zone": "x"}, `{"zone":"a"}`),
			map[string]string{"zone": "b", syncer.LabelSyncedFrom: "true"}},
		{"the host dropped one", nil, virtual(map[string]string{"zone": "a"}, `{"zone":"a"}`),
			map[string]string{syncer.LabelSyncedFrom: "true"}},
		{"the host's key wins", map[string]string{"color": "red"}, virtual(map[string]string{"color": "blue"}, `{}`),
			map[string]string{"color": "red", syncer.LabelSyncedFrom: "true"}},
		{"no record: all the host's", map[string]string{"zone": "a"}, virtual(map[string]string{"zone": "a", "color": "blue"}, ""),
			map[string]string{"zone": "a", syncer.LabelSyncedFrom: "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := VirtualLabels(tc.host, tc.node); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("labels %v, want %v", got, tc.want)
			}
		})
	}
}
