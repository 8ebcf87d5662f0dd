package virtualcluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/lab/pgserver"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/pgtest"
)

// releaseWhileAsleep makes the class give a sleeping vcluster's
// reservation back.
func releaseWhileAsleep(t *testing.T, class string) {
	t.Helper()
	patch := `{"spec":{"sleep":{"reservation":"Release"}}}`
	if err := k8s.Patch(context.Background(), &fleetv1.VirtualClusterClass{ObjectMeta: metav1.ObjectMeta{Name: class}},
		client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

// askSleep sets spec.sleep.sleeping, as vfleet sleep and wake do.
func askSleep(t *testing.T, vc *fleetv1.VirtualCluster, on bool) {
	t.Helper()
	patch := `{"spec":{"sleep":{"sleeping":false}}}`
	if on {
		patch = `{"spec":{"sleep":{"sleeping":true}}}`
	}
	if err := k8s.Patch(context.Background(), vc, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

// asleepReleased puts a Ready vc to sleep and waits until its host holds
// nothing for it.
func asleepReleased(t *testing.T, vc *fleetv1.VirtualCluster) {
	t.Helper()
	askSleep(t, vc, true)
	reportPhase(t, vc, true, fleetv1.ControlPlaneSleeping)
	eventually(t, func(g gomega.Gomega) {
		cur := get(t, vc)
		g.Expect(cur.Status.ReservationReleased).To(gomega.BeTrue(), "conditions: %+v", cur.Status.Conditions)
		g.Expect(cur.Status.Reserved).To(gomega.BeNil())
		c := condition(g, cur, fleetv1.ConditionResourcesReserved)
		g.Expect(c.Status).To(gomega.Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(gomega.Equal(fleetv1.ReasonReleasedWhileAsleep))
	})
}

// controlPlaneSleeping is whether the hub tells vc's agent to keep its
// control plane stopped.
func controlPlaneSleeping(g gomega.Gomega, vc *fleetv1.VirtualCluster) bool {
	cp := &fleetv1.ControlPlane{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: virtualcluster.ControlPlaneName(vc)}, cp)).To(gomega.Succeed())
	return cp.Spec.Sleeping
}

// TestASleepingVClusterGivesItsReservationBack: under a class that
// releases them, a sleeping vcluster's share of its host goes to another
// vcluster. Woken, an Embedded one (its state is on that host) stays
// stopped, saying why, until the host has room again; then it runs.
func TestASleepingVClusterGivesItsReservationBack(t *testing.T) {
	ctx := context.Background()
	// Room for one vcluster of one CPU with its overhead, not two.
	addHost(t, "release-a", "r-release", "2")
	class := builder.MakeClass("releasing")
	if err := k8s.Create(ctx, class); err != nil {
		t.Fatal(err)
	}
	releaseWhileAsleep(t, class.Name)
	vc := builder.MakeVirtualCluster("default", "release").CPU("1").Regions("r-release").Class(class.Name).Obj()
	if err := k8s.Create(ctx, vc); err != nil {
		t.Fatal(err)
	}
	vc = placedOn(t, vc, "release-a")
	runControlPlane(t, vc)
	eventually(t, func(g gomega.Gomega) { g.Expect(get(t, vc).Status.Phase).To(gomega.Equal(fleetv1.PhaseReady)) })

	asleepReleased(t, vc)
	other := placedOn(t, newVC(t, "release-other", "r-release", "1"), "release-a")

	askSleep(t, vc, false)
	eventually(t, func(g gomega.Gomega) {
		c := condition(g, get(t, vc), fleetv1.ConditionResourcesReserved)
		g.Expect(c.Reason).To(gomega.Equal(fleetv1.ReasonInsufficientCapacity))
		g.Expect(c.Message).To(gomega.ContainSubstring("backingStore Embedded"))
	})
	gomega.NewWithT(t).Consistently(func(g gomega.Gomega) {
		g.Expect(controlPlaneSleeping(g, vc)).To(gomega.BeTrue(), "woken with no room, the control plane must stay stopped")
	}).WithTimeout(2 * time.Second).WithPolling(100 * time.Millisecond).Should(gomega.Succeed())

	if err := k8s.Delete(ctx, other); err != nil {
		t.Fatal(err)
	}
	eventually(t, func(g gomega.Gomega) {
		cur := get(t, vc)
		g.Expect(cur.Status.ReservationReleased).To(gomega.BeFalse())
		g.Expect(cur.Status.Reserved).NotTo(gomega.BeNil())
		g.Expect(condition(g, cur, fleetv1.ConditionResourcesReserved).Status).To(gomega.Equal(metav1.ConditionTrue))
		g.Expect(controlPlaneSleeping(g, cur)).To(gomega.BeFalse())
	})
	reportPhase(t, vc, false, fleetv1.ControlPlaneRunning)
	eventually(t, func(g gomega.Gomega) { g.Expect(get(t, vc).Status.Phase).To(gomega.Equal(fleetv1.PhaseReady)) })
}

// TestAWakeWithNoRoomMovesTheVCluster: an External vcluster woken after
// its host's room went to another moves to a host that has room, by a
// migration recorded as a wake, and runs there.
func TestAWakeWithNoRoomMovesTheVCluster(t *testing.T) {
	pg := pgtest.Start(t)
	vc, _, _ := placeOnStore(t, "wakemove", fleetv1.BackingStoreSpec{Driver: fleetv1.DriverPostgreSQL, Endpoint: pg.Endpoint()},
		map[string][]byte{"username": []byte(pgserver.AdminUser), "password": []byte(pg.AdminPassword())}, nil)
	releaseWhileAsleep(t, vc.Spec.ClassName)
	runControlPlane(t, vc)
	vc = readyWithoutTrace(t, vc, 1)

	asleepReleased(t, vc)
	// What it held goes to another, which fills the host.
	placedOn(t, newVC(t, "wakemove-fill", "r-wakemove", "7"), "wakemove-a")
	addHost(t, "wakemove-b", "r-wakemove", "8")

	askSleep(t, vc, false)
	var moved *fleetv1.VirtualCluster
	eventually(t, func(g gomega.Gomega) {
		moved = get(t, vc)
		g.Expect(moved.Status.Host).To(gomega.Equal("wakemove-b"), "conditions: %+v", moved.Status.Conditions)
	})
	last := moved.Status.PlacementHistory[len(moved.Status.PlacementHistory)-1]
	if last.Reason != fleetv1.PlacementWake || last.Epoch != 2 || moved.Status.FencedEpoch != 1 {
		t.Fatalf("placement %+v, fenced epoch %d: want a wake to epoch 2 over a fence of epoch 1", last, moved.Status.FencedEpoch)
	}
	if moved.Status.ReservationReleased || moved.Status.Reserved == nil {
		t.Fatalf("moved, the vcluster's new host must hold it: reserved %v, released %v", moved.Status.Reserved, moved.Status.ReservationReleased)
	}
	eventually(t, func(g gomega.Gomega) { g.Expect(controlPlaneSleeping(g, moved)).To(gomega.BeFalse()) })
	runControlPlane(t, moved)
	readyWithoutTrace(t, vc, 2)
}
