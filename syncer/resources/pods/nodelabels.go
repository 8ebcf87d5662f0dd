package pods

import (
	"context"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/syncer/resources/nodes"
)

// noNode is a node name no node has: the host copy of a pod that no
// virtual node's labels match asks for it, and waits unscheduled, as it
// would in any cluster.
const noNode = "no-node-has-these-labels.vfleet.invalid"

// byTenantLabels carries a pod's choice of nodes by labels the tenant put
// on its nodes (nodes.TenantLabels), which the host's nodes do not have,
// to the host as node names: the requirements on those labels are judged
// here, against the vcluster's nodes, and the host copy requires one of
// the nodes that meet them instead. Preferences on them are dropped. A pod
// that names no tenant label is returned as it is; otherwise a copy.
func byTenantLabels(ctx context.Context, s *syncer.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	// A bound pod too: the class's check runs on every pass, and the host
	// copy made before the binding is the same.
	var list corev1.NodeList
	if err := s.Virtual.List(ctx, &list); err != nil {
		return nil, err
	}
	return tenantChoice(pod, list.Items), nil
}

// tenantChoice is byTenantLabels' pod, given the vcluster's nodes.
func tenantChoice(pod *corev1.Pod, virtualNodes []corev1.Node) *corev1.Pod {
	tenant := map[string]bool{}
	for i := range virtualNodes {
		for k := range nodes.TenantLabels(&virtualNodes[i]) {
			tenant[k] = true
		}
	}
	if !slices.ContainsFunc(nodeLabelKeys(&pod.Spec), func(k string) bool { return tenant[k] }) {
		return pod
	}
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	var names []string
	for i := range virtualNodes {
		if ok, _ := required.Match(&virtualNodes[i]); ok {
			names = append(names, virtualNodes[i].Name)
		}
	}
	if len(names) == 0 {
		names = []string{noNode}
	}
	slices.Sort(names)
	out := pod.DeepCopy()
	onNodes(&out.Spec, tenant, names)
	return out
}

// onNodes drops spec's requirements on the tenant's label keys and
// requires one of names instead. A node's name may be required one to a
// term, so each required term becomes one per name.
func onNodes(spec *corev1.PodSpec, tenant map[string]bool, names []string) {
	maps.DeleteFunc(spec.NodeSelector, func(k, _ string) bool { return tenant[k] })
	strip := func(t corev1.NodeSelectorTerm) corev1.NodeSelectorTerm {
		t.MatchExpressions = slices.DeleteFunc(slices.Clone(t.MatchExpressions), func(r corev1.NodeSelectorRequirement) bool { return tenant[r.Key] })
		return t
	}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := spec.Affinity.NodeAffinity
	var preferred []corev1.PreferredSchedulingTerm
	for _, p := range na.PreferredDuringSchedulingIgnoredDuringExecution {
		if p.Preference = strip(p.Preference); len(p.Preference.MatchExpressions)+len(p.Preference.MatchFields) > 0 {
			preferred = append(preferred, p)
		}
	}
	na.PreferredDuringSchedulingIgnoredDuringExecution = preferred
	terms := []corev1.NodeSelectorTerm{{}}
	if req := na.RequiredDuringSchedulingIgnoredDuringExecution; req != nil && len(req.NodeSelectorTerms) > 0 {
		terms = req.NodeSelectorTerms
	}
	var out []corev1.NodeSelectorTerm
	for _, t := range terms {
		t = strip(t)
		for _, name := range names {
			term := *t.DeepCopy()
			term.MatchFields = append(term.MatchFields, corev1.NodeSelectorRequirement{
				Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{name},
			})
			out = append(out, term)
		}
	}
	na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: out}
}
