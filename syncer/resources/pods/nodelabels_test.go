package pods

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer/resources/nodes"
)

// virtualNode is a vcluster's node with the host's labels and, beside
// them, the tenant's.
func virtualNode(name string, host, tenant map[string]string) corev1.Node {
	rec, _ := json.Marshal(host)
	labels := map[string]string{}
	for k, v := range host {
		labels[k] = v
	}
	for k, v := range tenant {
		labels[k] = v
	}
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: map[string]string{nodes.AnnotationHostLabels: string(rec)}}}
}

func onName(extra []corev1.NodeSelectorRequirement, name string) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: extra, MatchFields: []corev1.NodeSelectorRequirement{
		{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{name}},
	}}
}

// TestTenantChoice: a pod that chooses nodes by a label the tenant put on
// them gets, on the host, the names of the vcluster's nodes that have it,
// with its other requirements kept; the class's steering check then sees
// no tenant label.
func TestTenantChoice(t *testing.T) {
	zone := map[string]string{corev1.LabelTopologyZone: "a"}
	vnodes := []corev1.Node{
		virtualNode("n1", zone, map[string]string{"color": "blue"}),
		virtualNode("n2", zone, map[string]string{"color": "red"}),
		virtualNode("n3", map[string]string{corev1.LabelTopologyZone: "b"}, map[string]string{"color": "blue"}),
	}
	zoneA := corev1.NodeSelectorRequirement{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		want *corev1.Affinity // nil: the pod unchanged
		sel  map[string]string
	}{
		{name: "no tenant label", spec: corev1.PodSpec{NodeSelector: zone}},
		{name: "a nodeSelector", spec: corev1.PodSpec{NodeSelector: map[string]string{"color": "blue"}},
			want: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{onName(nil, "n1"), onName(nil, "n3")},
			}}}, sel: map[string]string{}},
		{name: "with a host label beside it, which stays", spec: corev1.PodSpec{NodeSelector: map[string]string{"color": "blue"}, Affinity: &corev1.Affinity{
			NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{zoneA}}},
			}}}},
			want: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{onName([]corev1.NodeSelectorRequirement{zoneA}, "n1")},
			}}}, sel: map[string]string{}},
		{name: "no node has it", spec: corev1.PodSpec{NodeSelector: map[string]string{"color": "blue", corev1.LabelTopologyZone: "c"}},
			want: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{onName(nil, noNode)},
			}}}, sel: map[string]string{corev1.LabelTopologyZone: "c"}},
		{name: "a preference is dropped", spec: corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: corev1.NodeSelectorTerm{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "color", Operator: corev1.NodeSelectorOpIn, Values: []string{"red"}}},
			}}}}}},
			want: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{onName(nil, "n1"), onName(nil, "n2"), onName(nil, "n3")},
			}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod(func(p *corev1.Pod) { p.Spec.NodeSelector, p.Spec.Affinity = tc.spec.NodeSelector, tc.spec.Affinity })
			got := tenantChoice(pod, vnodes)
			if tc.want == nil {
				if got != pod {
					t.Fatalf("a pod that names no tenant label was changed: %+v", got.Spec)
				}
				return
			}
			if !equality.Semantic.DeepEqual(got.Spec.Affinity, tc.want) {
				t.Errorf("affinity\n%+v\nwant\n%+v", got.Spec.Affinity.NodeAffinity, tc.want.NodeAffinity)
			}
			if !equality.Semantic.DeepEqual(got.Spec.NodeSelector, tc.sel) {
				t.Errorf("nodeSelector %v, want %v", got.Spec.NodeSelector, tc.sel)
			}
			if err := check(fleetv1.IsolationPolicy{}, got); err != nil {
				t.Errorf("the class refuses the host's choice: %v", err)
			}
		})
	}
}
