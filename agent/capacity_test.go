package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

func node(cpu, mem string, pods int64, ready, cordoned bool) corev1.Node {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return corev1.Node{
		Spec: corev1.NodeSpec{Unschedulable: cordoned},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem),
				corev1.ResourcePods: *resource.NewQuantity(pods, resource.DecimalSI),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}},
		},
	}
}

func list(cpu, mem string, pods int64) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem),
		corev1.ResourcePods: *resource.NewQuantity(pods, resource.DecimalSI),
	}
}

func expectList(t *testing.T, got, want corev1.ResourceList) {
	t.Helper()
	if !sameList(got, want) {
		t.Fatalf("got cpu=%s memory=%s pods=%s, want cpu=%s memory=%s pods=%s",
			got.Cpu(), got.Memory(), got.Pods(), want.Cpu(), want.Memory(), want.Pods())
	}
}

func TestAllocatable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []corev1.Node
		want  corev1.ResourceList
	}{
		{"no nodes", nil, list("0", "0", 0)},
		{"two ready", []corev1.Node{node("8", "32Gi", 110, true, false), node("4", "16Gi", 110, true, false)}, list("12", "48Gi", 220)},
		{"not ready counts nothing", []corev1.Node{node("8", "32Gi", 110, true, false), node("8", "32Gi", 110, false, false)}, list("8", "32Gi", 110)},
		{"cordoned counts nothing", []corev1.Node{node("8", "32Gi", 110, true, true), node("500m", "1Gi", 10, true, false)}, list("500m", "1Gi", 10)},
	} {
		t.Run(tc.name, func(t *testing.T) { expectList(t, Allocatable(tc.nodes), tc.want) })
	}
}

func pod(phase corev1.PodPhase, cpu, mem string, initCPU string) corev1.Pod {
	p := corev1.Pod{
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem),
		}}}}},
		Status: corev1.PodStatus{Phase: phase},
	}
	if initCPU != "" {
		p.Spec.InitContainers = []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(initCPU),
		}}}}
	}
	return p
}

func TestUsed(t *testing.T) {
	for _, tc := range []struct {
		name string
		pods []corev1.Pod
		want corev1.ResourceList
	}{
		{"none", nil, list("0", "0", 0)},
		{"running and pending count", []corev1.Pod{pod(corev1.PodRunning, "100m", "64Mi", ""), pod(corev1.PodPending, "200m", "128Mi", "")}, list("300m", "192Mi", 2)},
		{"finished pods free their requests", []corev1.Pod{pod(corev1.PodSucceeded, "1", "1Gi", ""), pod(corev1.PodFailed, "1", "1Gi", ""), pod(corev1.PodRunning, "100m", "64Mi", "")}, list("100m", "64Mi", 1)},
		{"an init container's larger request wins", []corev1.Pod{pod(corev1.PodRunning, "100m", "64Mi", "2")}, list("2", "64Mi", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) { expectList(t, Used(tc.pods), tc.want) })
	}
}

func TestUsedByVCluster(t *testing.T) {
	of := func(uid string, p corev1.Pod, controlPlane bool) corev1.Pod {
		p.Labels = map[string]string{fleetv1.LabelVirtualClusterUID: uid}
		if controlPlane {
			p.Labels[fleetv1.LabelControlPlaneApp] = fleetv1.ControlPlaneAppValue
		}
		return p
	}
	got := UsedByVCluster([]corev1.Pod{
		of("a", pod(corev1.PodRunning, "100m", "64Mi", ""), false),
		of("a", pod(corev1.PodPending, "200m", "128Mi", ""), false),
		of("a", pod(corev1.PodRunning, "1", "1Gi", ""), true),
		of("b", pod(corev1.PodSucceeded, "1", "1Gi", ""), false),
		of("", pod(corev1.PodRunning, "1", "1Gi", ""), false),
	})
	if len(got) != 2 {
		t.Fatalf("UsedByVCluster has %d vclusters, want a and b: %v", len(got), got)
	}
	t.Run("tenant pods count, not the control plane's", func(t *testing.T) { expectList(t, got["a"], list("300m", "192Mi", 2)) })
	t.Run("finished pods: zero, still reported", func(t *testing.T) { expectList(t, got["b"], list("0", "0", 0)) })
}

func TestCommitted(t *testing.T) {
	cp := func(cpu, mem string, pods int32, deleting bool) fleetv1.ControlPlane {
		c := fleetv1.ControlPlane{Spec: fleetv1.ControlPlaneSpec{Resources: fleetv1.Resources{
			CPU: resource.MustParse(cpu), Memory: resource.MustParse(mem), Pods: pods}}}
		if deleting {
			now := metav1.NewTime(time.Now())
			c.DeletionTimestamp = &now
		}
		return c
	}
	overhead := Overhead{CPU: resource.MustParse("250m"), Memory: resource.MustParse("512Mi")}
	for _, tc := range []struct {
		name string
		cps  []fleetv1.ControlPlane
		want corev1.ResourceList
	}{
		{"no control planes yet", nil, list("0", "0", 0)},
		{"quota plus overhead", []fleetv1.ControlPlane{cp("2", "4Gi", 110, false), cp("1", "1Gi", 50, false)}, list("3500m", "6Gi", 160)},
		{"one being deleted is released", []fleetv1.ControlPlane{cp("2", "4Gi", 110, false), cp("8", "8Gi", 10, true)}, list("2250m", "4608Mi", 110)},
	} {
		t.Run(tc.name, func(t *testing.T) { expectList(t, Committed(tc.cps, overhead), tc.want) })
	}
}

func TestVersions(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"v1.9.0", "v1.36.3", "v1.35.10"} {
		if err := os.MkdirAll(filepath.Join(root, v), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, v, "kube-apiserver"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A version without an apiserver binary, and a stray file, are not versions.
	_ = os.MkdirAll(filepath.Join(root, "v1.37.0"), 0o755)
	_ = os.WriteFile(filepath.Join(root, "README"), nil, 0o644)
	got := Versions(root)
	if want := []string{"v1.36.3", "v1.35.10", "v1.9.0"}; !slices.Equal(got, want) {
		t.Fatalf("Versions = %v, want %v", got, want)
	}
	if got := Versions(filepath.Join(root, "missing")); got != nil {
		t.Fatalf("missing root: %v", got)
	}
}
