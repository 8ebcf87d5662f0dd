package virtualcluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/test/builder"
)

// condition returns vc's condition of type t as the API server holds it.
func condition(g gomega.Gomega, vc *fleetv1.VirtualCluster, t string) metav1.Condition {
	got := &fleetv1.VirtualCluster{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(vc), got)).To(gomega.Succeed())
	c := meta.FindStatusCondition(got.Status.Conditions, t)
	g.Expect(c).NotTo(gomega.BeNil(), "condition %s", t)
	return *c
}

// TestClassDecidesIsolation: the tenant names a class; what its pods may do
// on the host comes from the class, and follows the admin's changes.
func TestClassDecidesIsolation(t *testing.T) {
	ctx := context.Background()
	addHost(t, "iso-a", "r-iso", "8")
	class := builder.MakeClass("iso-open")
	class.Spec.Isolation = fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityRestricted, AllowNodePorts: true}
	if err := k8s.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	vc := builder.MakeVirtualCluster("default", "iso").CPU("1").Regions("r-iso").Class(class.Name).Obj()
	if err := k8s.Create(ctx, vc); err != nil {
		t.Fatal(err)
	}
	vc = placedOn(t, vc, "iso-a")
	cp := &fleetv1.ControlPlane{}
	key := client.ObjectKey{Namespace: fleetv1.HostNamespace("iso-a"), Name: virtualcluster.ControlPlaneName(vc)}
	eventually(t, func(g gomega.Gomega) {
		g.Expect(k8s.Get(ctx, key, cp)).To(gomega.Succeed())
		g.Expect(cp.Spec.Isolation).To(gomega.Equal(class.Spec.Isolation))
		g.Expect(condition(g, vc, fleetv1.ConditionAdmitted).Status).To(gomega.Equal(metav1.ConditionTrue))
	})

	class.Spec.Isolation.AllowNodePorts = false
	if err := k8s.Update(ctx, class); err != nil {
		t.Fatal(err)
	}
	eventually(t, func(g gomega.Gomega) {
		g.Expect(k8s.Get(ctx, key, cp)).To(gomega.Succeed())
		g.Expect(cp.Spec.Isolation.AllowNodePorts).To(gomega.BeFalse(), "the class closed NodePorts")
	})
}

// TestClassRefusesWhatItDoesNotAllow: a vcluster outside its class is not
// placed, and its conditions say all of what to fix; a missing class says
// so; once the admin widens the class it is placed.
func TestClassRefusesWhatItDoesNotAllow(t *testing.T) {
	ctx := context.Background()
	addHost(t, "strict-a", "r-strict", "8")
	addHost(t, "strict-tainted", "r-strict", "8")
	vc := builder.MakeVirtualCluster("default", "strict").CPU("4").Regions("r-strict").Class("strict").
		Tolerate("gpu", corev1.TaintEffectNoSchedule).Obj()
	if err := k8s.Create(ctx, vc); err != nil {
		t.Fatal(err)
	}
	eventually(t, func(g gomega.Gomega) {
		c := condition(g, vc, fleetv1.ConditionScheduled)
		g.Expect(c.Reason).To(gomega.Equal(fleetv1.ReasonClassNotFound))
		g.Expect(c.Message).To(gomega.ContainSubstring(`VirtualClusterClass "strict" does not exist`))
	})

	class := builder.MakeClass("strict")
	class.Spec.AllowedRegions = []string{"r-elsewhere"}
	class.Spec.MaxResources.CPU = ptr.To(resource.MustParse("2"))
	if err := k8s.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	eventually(t, func(g gomega.Gomega) {
		for _, ct := range []string{fleetv1.ConditionScheduled, fleetv1.ConditionAdmitted} {
			c := condition(g, vc, ct)
			g.Expect(c.Status).To(gomega.Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(gomega.Equal(fleetv1.ReasonForbiddenByClass))
			for _, what := range []string{`region "r-strict"`, `taint "gpu:NoSchedule"`, "cpu 4 (at most 2)"} {
				g.Expect(c.Message).To(gomega.ContainSubstring(what))
			}
		}
	})
	gomega.NewWithT(t).Consistently(func() string { return get(t, vc).Status.Host }).
		WithTimeout(time.Second).Should(gomega.BeEmpty(), "a vcluster outside its class was placed")

	class.Spec.AllowedRegions = append(class.Spec.AllowedRegions, "r-strict")
	class.Spec.AllowedTolerations = []fleetv1.AllowedToleration{{Key: "gpu"}}
	class.Spec.MaxResources.CPU = ptr.To(resource.MustParse("4"))
	if err := k8s.Update(ctx, class); err != nil {
		t.Fatal(err)
	}
	placedOn(t, vc, "strict-a", "strict-tainted")
	eventually(t, func(g gomega.Gomega) {
		g.Expect(condition(g, vc, fleetv1.ConditionAdmitted).Status).To(gomega.Equal(metav1.ConditionTrue))
	})
}

// TestNoClassMeansTheSafestPolicy: without a class named, and with no
// default class, a vcluster may keep its state only on its host, and
// cannot reach an admin's BackingStore.
func TestNoClassMeansTheSafestPolicy(t *testing.T) {
	ctx := context.Background()
	addHost(t, "safe-a", "r-safe", "8")
	vc := builder.MakeVirtualCluster("default", "no-class-store").CPU("1").Regions("r-safe").External("someone-elses").Obj()
	if err := k8s.Create(ctx, vc); err != nil {
		t.Fatal(err)
	}
	eventually(t, func(g gomega.Gomega) {
		c := condition(g, vc, fleetv1.ConditionScheduled)
		g.Expect(c.Reason).To(gomega.Equal(fleetv1.ReasonForbiddenByClass))
		g.Expect(c.Message).To(gomega.ContainSubstring(`BackingStore "someone-elses" (allowed: none)`))
	})

	plain := newVC(t, "no-class", "r-safe", "1")
	placedOn(t, plain, "safe-a")
	cp := &fleetv1.ControlPlane{}
	eventually(t, func(g gomega.Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace("safe-a"), Name: virtualcluster.ControlPlaneName(plain)}, cp)).To(gomega.Succeed())
		g.Expect(cp.Spec.Isolation).To(gomega.Equal(fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityBaseline}))
	})
}

// TestClassRegionsSteerPlacement: a vcluster that names no region runs
// only in its class's, even where another has more room.
func TestClassRegionsSteerPlacement(t *testing.T) {
	ctx := context.Background()
	addHost(t, "steer-small", "r-steer-in", "2")
	addHost(t, "steer-big", "r-steer-out", "64")
	class := builder.MakeClass("steer")
	class.Spec.AllowedRegions = []string{"r-steer-in"}
	if err := k8s.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	vc := builder.MakeVirtualCluster("default", "steered").CPU("1").Class(class.Name).Strategy(fleetv1.StrategySpread).Obj()
	if err := k8s.Create(ctx, vc); err != nil {
		t.Fatal(err)
	}
	placedOn(t, vc, "steer-small")
}
