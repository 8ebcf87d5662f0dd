package config_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/test/builder"
)

// TestClassAtAdmission: the API server refuses a VirtualCluster outside
// the class it names, saying what to fix, judges it against that class
// only, and lets a write that leaves the spec alone through after the
// class was made stricter.
func TestClassAtAdmission(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "classy"}}); err != nil {
		t.Fatal(err)
	}
	gold := builder.MakeClass("admission-gold", "pg")
	gold.Spec.AllowedRegions = []string{"eu"}
	gold.Spec.AllowedTolerations = []fleetv1.AllowedToleration{{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}}
	gold.Spec.MaxResources = fleetv1.ResourceCeiling{CPU: ptr.To(resource.MustParse("4")), Memory: ptr.To(resource.MustParse("8Gi")),
		Pods: ptr.To(int32(100)), Storage: ptr.To(resource.MustParse("10Gi"))}
	// A looser class beside it: the vcluster is judged by its own only.
	loose := builder.MakeClass("admission-loose", "pg", "other")
	for _, class := range []*fleetv1.VirtualClusterClass{gold, loose} {
		if err := c.Create(ctx, class); err != nil {
			t.Fatal(err)
		}
	}
	within := func(name string) *builder.VirtualClusterWrapper {
		return builder.MakeVirtualCluster("classy", name).Class("admission-gold").CPU("2").Memory("4Gi").Storage("5Gi").Pods(50).
			External("pg").Regions("eu").Tolerate("dedicated", corev1.TaintEffectNoSchedule)
	}
	// The API server enforces a policy a moment after it is stored.
	deadline := time.Now().Add(30 * time.Second)
	for c.Create(ctx, within("probe").External("other").Obj()) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the class policy was never enforced")
		}
		_ = c.Delete(ctx, within("probe").Obj())
		time.Sleep(200 * time.Millisecond)
	}

	for _, tc := range []struct {
		name string
		vc   *fleetv1.VirtualCluster
		says string // empty: admitted
	}{
		{name: "within its class", vc: within("fits").Obj()},
		{name: "a store the class does not allow", vc: within("store").External("other").Obj(),
			says: "outside its VirtualClusterClass admission-gold: it does not allow BackingStore other (allowed: pg)"},
		{name: "a region outside the class's", vc: within("region").Regions("us").Obj(), says: "placement.regions must be among eu"},
		{name: "a taint the class does not hand out", vc: within("taint").Tolerate("example.com/gpu", "").Obj(),
			says: "does not hand out the taints placement.tolerations tolerates (allowed: dedicated:NoSchedule)"},
		{name: "more CPU than the class's ceiling", vc: within("cpu").CPU("8").Obj(), says: "resources.cpu must be at most 4"},
		{name: "more memory", vc: within("memory").Memory("16Gi").Obj(), says: "resources.memory must be at most 8Gi"},
		{name: "more pods", vc: within("pods").Pods(500).Obj(), says: "resources.pods must be at most 100"},
		{name: "unbounded storage", vc: func() *fleetv1.VirtualCluster { v := within("storage").Obj(); v.Spec.Resources.Storage = nil; return v }(),
			says: "resources.storage must be set, and at most 10Gi"},
		{name: "what the looser class allows, under it", vc: builder.MakeVirtualCluster("classy", "loose").Class("admission-loose").CPU("8").External("other").Obj()},
		{name: "no class, and no default class: the hub's safest policy applies", vc: builder.MakeVirtualCluster("classy", "classless").Obj()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Create(ctx, tc.vc)
			switch {
			case tc.says == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)):
				t.Fatalf("got %v, want a refusal saying %q", err, tc.says)
			}
		})
	}

	// A stricter class: the vcluster it holds can still be relabelled (and
	// its finalizers removed), but its spec cannot be written outside it.
	if err := c.Patch(ctx, gold, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"maxResources":{"cpu":"1"}}}`))); err != nil {
		t.Fatal(err)
	}
	fits := &fleetv1.VirtualCluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "classy", Name: "fits"}, fits); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		err := c.Patch(ctx, fits.DeepCopy(), client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"resources":{"cpu":"3"}}}`)))
		if err != nil && strings.Contains(err.Error(), "resources.cpu must be at most 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a resize outside the stricter class: got %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := c.Patch(ctx, fits, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"team":"a"}}}`))); err != nil {
		t.Fatalf("a label on a vcluster the class no longer fits: %v", err)
	}
}
