package virtualcluster

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/test/builder"
)

func TestViolations(t *testing.T) {
	q := resource.MustParse
	gold := fleetv1.VirtualClusterClassSpec{
		AllowedStores:      []string{"pg"},
		AllowedRegions:     []string{"eu"},
		AllowedTolerations: []fleetv1.AllowedToleration{{Key: "gpu"}, {Key: "spot", Effect: corev1.TaintEffectNoSchedule}},
		MaxResources:       fleetv1.ResourceCeiling{CPU: ptr.To(q("4")), Memory: ptr.To(q("8Gi")), Pods: ptr.To[int32](50), Storage: ptr.To(q("20Gi"))},
	}
	small := builder.MakeVirtualCluster("ns", "a").CPU("2").Memory("4Gi")
	for _, tc := range []struct {
		name  string
		vc    *builder.VirtualClusterWrapper
		class fleetv1.VirtualClusterClassSpec
		want  []string // substrings, one a violation, in order
	}{
		{"within gold", builder.MakeVirtualCluster("ns", "a").CPU("2").Memory("4Gi").Storage("1Gi").External("pg").Regions("eu"), gold, nil},
		{"the built-in class takes Embedded state", small, builtinClass, nil},
		{"the built-in class takes no External store", builder.MakeVirtualCluster("ns", "a").External("pg"), builtinClass,
			[]string{`BackingStore "pg" (allowed: none)`}},
		{"a store outside the list", builder.MakeVirtualCluster("ns", "a").Storage("1Gi").External("etcd"), gold, []string{`BackingStore "etcd" (allowed: pg)`}},
		{"a region outside the list", builder.MakeVirtualCluster("ns", "a").Storage("1Gi").Regions("eu", "us"), gold, []string{`region "us" (allowed: eu)`}},
		{"any region when the class names none", builder.MakeVirtualCluster("ns", "a").Regions("us"), builtinClass, nil},
		{"cpu, memory and pods over the ceiling", builder.MakeVirtualCluster("ns", "a").CPU("5").Memory("9Gi").Pods(51).Storage("1Gi"), gold,
			[]string{"cpu 5 (at most 4)", "memory 9Gi (at most 8Gi)", "pods 51 (at most 50)"}},
		{"unbounded storage under a storage ceiling", builder.MakeVirtualCluster("ns", "a"), gold, []string{"unbounded storage (at most 20Gi"}},
		{"storage over the ceiling", builder.MakeVirtualCluster("ns", "a").Storage("30Gi"), gold, []string{"storage 30Gi (at most 20Gi)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := violations(tc.vc.Obj().Spec, tc.class)
			if len(got) != len(tc.want) {
				t.Fatalf("violations %q, want %d like %q", got, len(tc.want), tc.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tc.want[i]) {
					t.Errorf("violation %d: %q, want it to contain %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestTolerations(t *testing.T) {
	allowed := []fleetv1.AllowedToleration{{Key: "gpu"}, {Key: "spot", Effect: corev1.TaintEffectNoSchedule}}
	for _, tc := range []struct {
		key, effect string
		want        bool
	}{
		{"gpu", "", true},
		{"gpu", "NoExecute", true},
		{"spot", "NoSchedule", true},
		{"spot", "NoExecute", false},
		{"spot", "", false}, // every effect: wider than allowed
		{"", "", false},     // every taint
		{"vfleet.dev/unreachable", "NoSchedule", false},
	} {
		if got := fleetv1.TolerationAllowed(tc.key, tc.effect, allowed); got != tc.want {
			t.Errorf("toleration of %s:%s allowed = %v, want %v", tc.key, tc.effect, got, tc.want)
		}
	}
}

func TestPlacementView(t *testing.T) {
	class := fleetv1.VirtualClusterClassSpec{AllowedRegions: []string{"eu", "ch"}}
	anywhere := builder.MakeVirtualCluster("ns", "a").Obj()
	if got := placementView(anywhere, class).Spec.Placement.Regions; len(got) != 2 {
		t.Fatalf("a vcluster that names no region runs in %v, want the class's", got)
	}
	if len(anywhere.Spec.Placement.Regions) != 0 {
		t.Fatal("placementView changed the vcluster it was given")
	}
	own := builder.MakeVirtualCluster("ns", "a").Regions("ch").Obj()
	if got := placementView(own, class).Spec.Placement.Regions; len(got) != 1 || got[0] != "ch" {
		t.Fatalf("a vcluster that names its regions runs in %v, want its own", got)
	}
	if got := placementView(anywhere, builtinClass).Spec.Placement.Regions; len(got) != 0 {
		t.Fatalf("under a class without regions: %v, want any", got)
	}
}
