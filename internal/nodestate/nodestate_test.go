package nodestate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSchedulable(t *testing.T) {
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue}
	notReady := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse}
	node := func(unschedulable bool, taints []corev1.Taint, conds ...corev1.NodeCondition) corev1.Node {
		return corev1.Node{Spec: corev1.NodeSpec{Unschedulable: unschedulable, Taints: taints}, Status: corev1.NodeStatus{Conditions: conds}}
	}
	for _, tc := range []struct {
		name string
		node corev1.Node
		want bool
	}{
		{"ready", node(false, nil, ready), true},
		{"not ready", node(false, nil, notReady), false},
		{"no conditions yet", node(false, nil), false},
		{"cordoned", node(true, nil, ready), false},
		{"not-ready taint", node(false, []corev1.Taint{{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule}}, ready), false},
		{"NoExecute taint", node(false, []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectNoExecute}}, ready), false},
		{"PreferNoSchedule is fine", node(false, []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectPreferNoSchedule}}, ready), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Schedulable(&tc.node); got != tc.want {
				t.Fatalf("Schedulable = %v, want %v", got, tc.want)
			}
		})
	}
}
