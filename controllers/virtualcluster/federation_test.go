package virtualcluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/takeover"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/federation"
	"github.com/vfleet/vfleet/federation/ledger"
)

// restartHubWith runs the hub with epochs as its federation's ledger
// until the test ends, then without.
func restartHubWith(t *testing.T, epochs *federation.Epochs) {
	t.Helper()
	if err := stopHub(); err != nil {
		t.Fatal(err)
	}
	hubLedger = epochs
	if err := startHub(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stopHub(); err != nil {
			t.Error(err)
		}
		hubLedger = nil
		if err := startHub(); err != nil {
			t.Error(err)
		}
	})
}

// TestFederationCommitsEpochsFirst: in a federation, the hub places a
// vcluster only once the ledger committed its epoch, never one the ledger
// has in another region, and drops a deleted one from the ledger.
func TestFederationCommitsEpochsFirst(t *testing.T) {
	ctx := context.Background()
	l := ledger.NewLocal(ledger.New())
	for _, c := range []ledger.Command{
		{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "r-fed", Hub: "hub-fed", Reported: time.Now()},
			Hosts: []ledger.Host{{Name: "fed-a", Region: "r-fed"}}},
		{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "r-other", Hub: "hub-other", Reported: time.Now()},
			Hosts: []ledger.Host{{Name: "other-1", Region: "r-other"}}},
		// A vcluster of the same name lives in the other region.
		{Op: ledger.OpHome, Key: "default/fed-taken", Home: "r-other"},
		{Op: ledger.OpBumpEpoch, Key: "default/fed-taken", Host: "other-1"},
	} {
		if _, err := l.Propose(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	restartHubWith(t, &federation.Epochs{Region: "r-fed", Proposer: l})
	addHost(t, "fed-a", "r-fed", "8")

	vc := placedOn(t, newVC(t, "fed", "r-fed", "2"), "fed-a")
	if rec := l.Ledger().VClusters["default/fed"]; rec.Epoch != vc.Status.Epoch || rec.Host != "fed-a" || rec.Region != "r-fed" {
		t.Fatalf("the ledger has %+v, the vcluster epoch %d on %s", rec, vc.Status.Epoch, vc.Status.Host)
	}

	taken := newVC(t, "fed-taken", "r-fed", "1")
	eventually(t, func(g gomega.Gomega) {
		got := get(t, taken)
		c := meta.FindStatusCondition(got.Status.Conditions, fleetv1.ConditionScheduled)
		g.Expect(c).NotTo(gomega.BeNil())
		g.Expect(c.Status).To(gomega.Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(gomega.Equal(fleetv1.ReasonFederationRefused))
		g.Expect(c.Message).To(gomega.ContainSubstring("lives in another region, r-other"))
		g.Expect(got.Status.Host).To(gomega.BeEmpty())
	})
	if rec := l.Ledger().VClusters["default/fed-taken"]; rec.Host != "other-1" || rec.Epoch != 1 {
		t.Fatalf("the other region's vcluster is now %+v", rec)
	}

	// Region r-other takes "fed" over (as it would were r-fed lost): once
	// told, this hub retires its copy and stops its control plane.
	if _, err := l.Propose(ctx, ledger.Command{Op: ledger.OpClaim, Key: "default/fed", From: vc.Status.Epoch, Home: "r-other"}); err != nil {
		t.Fatal(err)
	}
	poke := get(t, vc)
	poke.Annotations = map[string]string{takeover.AnnotationTakenOverBy: "r-other"}
	if err := k8s.Update(ctx, poke); err != nil {
		t.Fatal(err)
	}
	eventually(t, func(g gomega.Gomega) {
		got := get(t, vc)
		g.Expect(got.Status.Phase).To(gomega.Equal(fleetv1.PhaseTakenOver))
		c := meta.FindStatusCondition(got.Status.Conditions, fleetv1.ConditionReady)
		g.Expect(c).NotTo(gomega.BeNil())
		g.Expect(c.Reason).To(gomega.Equal(fleetv1.ReasonTakenOver))
		g.Expect(c.Message).To(gomega.ContainSubstring("region r-other took this vcluster over"))
		err := k8s.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace("fed-a"), Name: virtualcluster.ControlPlaneName(vc)}, &fleetv1.ControlPlane{})
		g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "the retired copy's ControlPlane is still there")
	})

	for _, v := range []*fleetv1.VirtualCluster{vc, taken} {
		if err := k8s.Delete(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func(g gomega.Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(vc), &fleetv1.VirtualCluster{}))).To(gomega.BeTrue())
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(taken), &fleetv1.VirtualCluster{}))).To(gomega.BeTrue())
	})
	ledgerNow := l.Ledger()
	if rec, ok := ledgerNow.VClusters["default/fed"]; !ok || rec.Region != "r-other" {
		t.Errorf("deleting the retired copy dropped what region r-other runs from the ledger: %+v", rec)
	}
	if _, ok := ledgerNow.VClusters["default/fed-taken"]; !ok {
		t.Error("deleting this region's VirtualCluster dropped the other region's vcluster of that name from the ledger")
	}
}
