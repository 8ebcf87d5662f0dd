package virtualcluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/test/builder"
)

// reportPhase reports the vcluster's ControlPlane in phase once its spec
// says sleeping, as its agent would.
func reportPhase(t *testing.T, vc *fleetv1.VirtualCluster, sleeping bool, phase fleetv1.ControlPlanePhase) {
	t.Helper()
	key := client.ObjectKey{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: virtualcluster.ControlPlaneName(vc)}
	eventually(t, func(g gomega.Gomega) {
		cp := &fleetv1.ControlPlane{}
		g.Expect(k8s.Get(context.Background(), key, cp)).To(gomega.Succeed())
		g.Expect(cp.Spec.Sleeping).To(gomega.Equal(sleeping))
		cp.Status.ObservedGeneration, cp.Status.Phase = cp.Generation, phase
		g.Expect(k8s.Status().Update(context.Background(), cp)).To(gomega.Succeed())
	})
}

// readyVCluster makes a vcluster with sleep on a host of its own, and
// waits until it is Ready.
func readyVCluster(t *testing.T, name string, sleep *fleetv1.SleepPolicy) *fleetv1.VirtualCluster {
	t.Helper()
	addHost(t, name+"-a", "r-"+name, "8")
	vc := builder.MakeVirtualCluster("default", name).CPU("1").Regions("r-" + name).Obj()
	vc.Spec.Sleep = sleep
	if err := k8s.Create(context.Background(), vc); err != nil {
		t.Fatal(err)
	}
	vc = placedOn(t, vc, name+"-a")
	runControlPlane(t, vc)
	eventually(t, func(g gomega.Gomega) {
		g.Expect(get(t, vc).Status.Phase).To(gomega.Equal(fleetv1.PhaseReady))
	})
	return vc
}

// TestSleepIsAskedAndRecorded: vfleet sleep stops the control plane; the
// status says since when, and the gateway holds the vcluster's
// connections. vfleet wake brings it back, and the status forgets it.
func TestSleepIsAskedAndRecorded(t *testing.T) {
	ctx := context.Background()
	vc := readyVCluster(t, "sleepy", nil)
	g := gomega.NewWithT(t)

	askSleep(t, vc, true)
	reportPhase(t, vc, true, fleetv1.ControlPlaneSleeping)
	var asleep *fleetv1.VirtualCluster
	eventually(t, func(g gomega.Gomega) {
		asleep = get(t, vc)
		g.Expect(asleep.Status.Phase).To(gomega.Equal(fleetv1.PhaseSleeping))
		g.Expect(asleep.Status.Sleep).NotTo(gomega.BeNil())
		g.Expect(asleep.Status.Sleep.Reason).To(gomega.Equal(fleetv1.SleepAsked))
		g.Expect(asleep.Status.Gateway.Address).To(gomega.BeEmpty(), "the gateway holds a sleeping vcluster's connections")
	})
	since := asleep.Status.Sleep.Since
	// Another reconcile keeps the time it fell asleep.
	g.Expect(k8s.Patch(ctx, vc, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"test/poke":"1"}}}`)))).To(gomega.Succeed())
	g.Consistently(func(g gomega.Gomega) {
		g.Expect(get(t, vc).Status.Sleep.Since).To(gomega.Equal(since))
	}).WithTimeout(2 * time.Second).WithPolling(100 * time.Millisecond).Should(gomega.Succeed())

	askSleep(t, vc, false)
	reportPhase(t, vc, false, fleetv1.ControlPlaneRunning)
	eventually(t, func(g gomega.Gomega) {
		awake := get(t, vc)
		g.Expect(awake.Status.Phase).To(gomega.Equal(fleetv1.PhaseReady))
		g.Expect(awake.Status.Sleep).To(gomega.BeNil())
		g.Expect(awake.Status.Gateway.Address).NotTo(gomega.BeEmpty())
	})
}

// TestARequestWakesAnInactiveVCluster: a vcluster the hub put to sleep
// for inactivity wakes when the gateway renews its activity Lease, as it
// does for a request that waits.
func TestARequestWakesAnInactiveVCluster(t *testing.T) {
	ctx := context.Background()
	vc := readyVCluster(t, "idle", &fleetv1.SleepPolicy{AfterInactivity: &metav1.Duration{Duration: time.Hour}})
	g := gomega.NewWithT(t)

	// What the hub decides after an hour with no request.
	since := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	eventually(t, func(g gomega.Gomega) {
		cur := get(t, vc)
		cur.Status.Sleep = &fleetv1.SleepStatus{Since: since, Reason: fleetv1.SleepInactive}
		g.Expect(k8s.Status().Update(ctx, cur)).To(gomega.Succeed())
	})
	reportPhase(t, vc, true, fleetv1.ControlPlaneSleeping)
	eventually(t, func(g gomega.Gomega) {
		asleep := get(t, vc)
		g.Expect(asleep.Status.Phase).To(gomega.Equal(fleetv1.PhaseSleeping))
		g.Expect(asleep.Status.Sleep).To(gomega.Equal(&fleetv1.SleepStatus{Since: since, Reason: fleetv1.SleepInactive}))
	})

	// The gateway holds a request for it: it renews the Lease.
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: identityNamespace, Name: fleetv1.ActivityLeaseName(vc.UID), Labels: map[string]string{
			fleetv1.LabelActivity: "true", fleetv1.LabelManagedBy: fleetv1.ManagedByValue,
			fleetv1.LabelVirtualCluster: vc.Name, fleetv1.LabelVirtualClusterNamespace: vc.Namespace,
		}},
		Spec: coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
	g.Expect(k8s.Create(ctx, lease)).To(gomega.Succeed())
	reportPhase(t, vc, false, fleetv1.ControlPlaneRunning)
	eventually(t, func(g gomega.Gomega) {
		awake := get(t, vc)
		g.Expect(awake.Status.Sleep).To(gomega.BeNil())
		g.Expect(awake.Status.Phase).To(gomega.Equal(fleetv1.PhaseReady), "conditions: %+v", awake.Status.Conditions)
	})

	g.Expect(k8s.Delete(ctx, vc)).To(gomega.Succeed())
	eventually(t, func(g gomega.Gomega) {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(lease), &coordinationv1.Lease{})
		g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "the activity Lease goes with the vcluster: %v", err)
	})
}
