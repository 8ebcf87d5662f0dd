package virtualcluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
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

// TestSleepIsAskedAndRecorded: vfleet sleep stops the control plane; the
// status says since when, and the gateway holds the vcluster's
// connections. vfleet wake brings it back, and the status forgets it.
func TestSleepIsAskedAndRecorded(t *testing.T) {
	ctx := context.Background()
	addHost(t, "sleepy-a", "r-sleepy", "8")
	vc := builder.MakeVirtualCluster("default", "sleepy").CPU("1").Regions("r-sleepy").Obj()
	g := gomega.NewWithT(t)
	g.Expect(k8s.Create(ctx, vc)).To(gomega.Succeed())
	vc = placedOn(t, vc, "sleepy-a")
	runControlPlane(t, vc)
	eventually(t, func(g gomega.Gomega) {
		g.Expect(get(t, vc).Status.Phase).To(gomega.Equal(fleetv1.PhaseReady))
	})

	sleep := func(on bool) {
		t.Helper()
		patch := `{"spec":{"sleep":{"sleeping":false}}}`
		if on {
			patch = `{"spec":{"sleep":{"sleeping":true}}}`
		}
		g.Expect(k8s.Patch(ctx, vc, client.RawPatch("application/merge-patch+json", []byte(patch)))).To(gomega.Succeed())
	}
	sleep(true)
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

	sleep(false)
	reportPhase(t, vc, false, fleetv1.ControlPlaneRunning)
	eventually(t, func(g gomega.Gomega) {
		awake := get(t, vc)
		g.Expect(awake.Status.Phase).To(gomega.Equal(fleetv1.PhaseReady))
		g.Expect(awake.Status.Sleep).To(gomega.BeNil())
		g.Expect(awake.Status.Gateway.Address).NotTo(gomega.BeEmpty())
	})
}
