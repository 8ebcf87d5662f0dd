package taints

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/vfleet/vfleet/placement/framework"
)

func TestFilter(t *testing.T) {
	gpu := corev1.Taint{Key: "gpu", Value: "a100", Effect: corev1.TaintEffectNoSchedule}
	unreachable := corev1.Taint{Key: "vfleet.dev/unreachable", Effect: corev1.TaintEffectNoSchedule}
	for _, tc := range []struct {
		name        string
		taints      []corev1.Taint
		tolerations []corev1.Toleration
		ok          bool
		reason      string
	}{
		{"no taints", nil, nil, true, ""},
		{"untolerated", []corev1.Taint{gpu}, nil, false, "untolerated taint gpu"},
		{"tolerated by key and value", []corev1.Taint{gpu}, []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpEqual, Value: "a100", Effect: corev1.TaintEffectNoSchedule}}, true, ""},
		{"wrong value", []corev1.Taint{gpu}, []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpEqual, Value: "t4"}}, false, "untolerated taint gpu"},
		{"exists operator", []corev1.Taint{gpu}, []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}}, true, ""},
		{"one of two tolerated", []corev1.Taint{gpu, unreachable}, []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}}, false, "untolerated taint vfleet.dev/unreachable"},
		{"tolerate everything", []corev1.Taint{gpu, unreachable}, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := Plugin{}.Filter(&framework.Request{Tolerations: tc.tolerations}, &framework.Host{Taints: tc.taints}, nil)
			if ok != tc.ok || reason != tc.reason {
				t.Fatalf("got %v %q, want %v %q", ok, reason, tc.ok, tc.reason)
			}
		})
	}
}
