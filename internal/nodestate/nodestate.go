// Package nodestate answers whether a node can take new pods: the one
// definition the lab's readiness wait and the agent's capacity share.
package nodestate

import corev1 "k8s.io/api/core/v1"

// Schedulable reports whether node is Ready and accepts new pods: not
// cordoned and without a NoSchedule or NoExecute taint.
func Schedulable(node *corev1.Node) bool {
	if node.Spec.Unschedulable {
		return false
	}
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// CountSchedulable counts the Schedulable nodes.
func CountSchedulable(nodes []corev1.Node) int {
	n := 0
	for i := range nodes {
		if Schedulable(&nodes[i]) {
			n++
		}
	}
	return n
}
