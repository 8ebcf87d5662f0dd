package pods

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
)

// ReasonSteering is the Event reason of a pod kept off the host for
// choosing nodes by labels its class does not let it choose by.
const ReasonSteering = "ForbiddenNodeSteering"

// whereLabels say where a node is and what it runs, not whose it is: a pod
// may always choose nodes by them.
var whereLabels = []string{
	corev1.LabelHostname, corev1.LabelOSStable, corev1.LabelArchStable,
	corev1.LabelTopologyZone, corev1.LabelTopologyRegion, corev1.LabelInstanceTypeStable,
}

// Tolerations that only say how long a pod waits out a lost node: the
// vcluster's admission adds them to every pod.
var waitTolerations = []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable}

// checkSteering refuses a pod that chooses host nodes by a label its class
// does not let it choose by, or that wants another value of a label its
// class pins. Every key a pod names counts, preferred or required, and the
// topology keys too: a required one keeps the pod off nodes without it.
func checkSteering(policy fleetv1.IsolationPolicy, pod *corev1.Pod) error {
	var pinned []string
	for k, v := range pod.Spec.NodeSelector {
		if want, ok := policy.NodeSelector[k]; ok && want != v {
			pinned = append(pinned, fmt.Sprintf("%s=%s (the class keeps its pods on %s=%s)", k, v, k, want))
		}
	}
	if len(pinned) > 0 {
		sort.Strings(pinned)
		return &syncer.Refusal{Reason: ReasonSteering, Message: "the pod stays off the host: its nodeSelector asks for " + strings.Join(pinned, ", ")}
	}
	var bad []string
	for _, k := range nodeLabelKeys(&pod.Spec) {
		_, isPinned := policy.NodeSelector[k]
		if !isPinned && !slices.Contains(whereLabels, k) && !slices.Contains(policy.AllowedNodeLabels, k) && !slices.Contains(bad, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	allowed := append(slices.Clone(whereLabels), policy.AllowedNodeLabels...)
	return &syncer.Refusal{Reason: ReasonSteering, Message: fmt.Sprintf(
		"the pod stays off the host: it chooses nodes by %s, which the vcluster's class does not allow (allowed: %s)",
		strings.Join(bad, ", "), strings.Join(allowed, ", "))}
}

// nodeLabelKeys are the node label keys a pod spec chooses nodes by.
func nodeLabelKeys(spec *corev1.PodSpec) []string {
	keys := slices.Collect(maps.Keys(spec.NodeSelector))
	terms := func(ts []corev1.NodeSelectorTerm) {
		for _, t := range ts {
			for _, r := range t.MatchExpressions {
				keys = append(keys, r.Key)
			}
			// matchFields selects by metadata.name only: the hostname.
		}
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil {
		if req := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
			terms(req.NodeSelectorTerms)
		}
		for _, p := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms([]corev1.NodeSelectorTerm{p.Preference})
		}
	}
	for _, t := range podAffinityTerms(spec.Affinity) {
		keys = append(keys, t.TopologyKey)
	}
	for _, c := range spec.TopologySpreadConstraints {
		keys = append(keys, c.TopologyKey)
	}
	return keys
}

// hostScheduling applies the class to where the host copy may run: on the
// class's nodes, tolerating only the taints the class hands out, and
// placed near or apart from the copies of the pods the virtual pod named,
// by their labels as the host carries them.
func hostScheduling(policy fleetv1.IsolationPolicy, spec *corev1.PodSpec, namespace string) {
	if len(policy.NodeSelector) > 0 {
		if spec.NodeSelector == nil {
			spec.NodeSelector = map[string]string{}
		}
		maps.Copy(spec.NodeSelector, policy.NodeSelector)
	}
	spec.Tolerations = slices.DeleteFunc(spec.Tolerations, func(t corev1.Toleration) bool {
		wait := t.Effect == corev1.TaintEffectNoExecute && slices.Contains(waitTolerations, t.Key)
		return !wait && !fleetv1.TolerationAllowed(t.Key, string(t.Effect), policy.AllowedTolerations)
	})
	for _, t := range podAffinityTerms(spec.Affinity) {
		// All of the vcluster's namespaces share one on the host: a term's
		// namespaces become a requirement on the copies' virtual namespace.
		// A namespace selector cannot be judged there, and stands for all.
		namespaces := t.Namespaces
		if len(namespaces) == 0 {
			namespaces = []string{namespace}
		}
		t.LabelSelector = inNamespaces(syncer.HostLabelSelector(t.LabelSelector), namespaces, t.NamespaceSelector == nil)
		t.MatchLabelKeys, t.MismatchLabelKeys = syncer.HostLabelKeys(t.MatchLabelKeys), syncer.HostLabelKeys(t.MismatchLabelKeys)
		t.Namespaces, t.NamespaceSelector = nil, nil
	}
	for i := range spec.TopologySpreadConstraints {
		c := &spec.TopologySpreadConstraints[i]
		c.LabelSelector = inNamespaces(syncer.HostLabelSelector(c.LabelSelector), []string{namespace}, true)
		c.MatchLabelKeys = syncer.HostLabelKeys(c.MatchLabelKeys)
	}
}

// pinToNode keeps a pod the tenant bound to a node itself (nodeName set
// at create, as tests and some controllers do) on that node: by a required
// term on the node's name, which the host's scheduler applies with the
// class's other rules. The host copy's own nodeName would have the
// kubelet take it unchecked, and none would let the host's scheduler put
// it elsewhere than the vcluster says it is. The name is ANDed with each
// term the pod already requires.
func pinToNode(spec *corev1.PodSpec, node string) {
	if node == "" {
		return
	}
	on := corev1.NodeSelectorRequirement{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := spec.Affinity.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil || len(na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) == 0 {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{}}}
	}
	terms := na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for i := range terms {
		terms[i].MatchFields = append(terms[i].MatchFields, on)
	}
}

// inNamespaces narrows a host selector to the copies of pods of the
// virtual namespaces. A nil selector selects nothing and stays so.
func inNamespaces(sel *metav1.LabelSelector, namespaces []string, narrow bool) *metav1.LabelSelector {
	if sel == nil || !narrow {
		return sel
	}
	sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
		Key: syncer.LabelVirtualNamespace, Operator: metav1.LabelSelectorOpIn, Values: slices.Clone(namespaces),
	})
	return sel
}

// podAffinityTerms returns the pod (anti-)affinity terms of a, to edit in
// place.
func podAffinityTerms(a *corev1.Affinity) []*corev1.PodAffinityTerm {
	if a == nil {
		return nil
	}
	var out []*corev1.PodAffinityTerm
	add := func(req []corev1.PodAffinityTerm, pref []corev1.WeightedPodAffinityTerm) {
		for i := range req {
			out = append(out, &req[i])
		}
		for i := range pref {
			out = append(out, &pref[i].PodAffinityTerm)
		}
	}
	if a.PodAffinity != nil {
		add(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	if a.PodAntiAffinity != nil {
		add(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	return out
}
