package virtualcluster_test

import (
	"context"
	"testing"

	"github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
)

// TestResizeGoesThroughTheFitCheck: a placed vcluster that asks for more
// than its host has room for keeps what it has (its quota too) and says
// why; one within the room gets it. What the host holds survives a restart
// of the hub, so the ledger neither drops nor inflates it.
func TestResizeGoesThroughTheFitCheck(t *testing.T) {
	ctx := context.Background()
	addHost(t, "resize-a", "r-resize", "8")
	vc := placedOn(t, newVC(t, "grows", "r-resize", "2"), "resize-a")
	resize := func(cpu string) {
		t.Helper()
		// A patch of the one field, as kubectl sends: the hub writes the
		// status meanwhile.
		patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"resources":{"cpu":"`+cpu+`"}}}`))
		if err := k8s.Patch(ctx, &fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: vc.Namespace, Name: vc.Name}}, patch); err != nil {
			t.Fatal(err)
		}
	}
	quota := func(g gomega.Gomega) string {
		cp := &fleetv1.ControlPlane{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace("resize-a"), Name: virtualcluster.ControlPlaneName(vc)}, cp)).To(gomega.Succeed())
		return cp.Spec.Resources.CPU.String()
	}

	resize("100")
	eventually(t, func(g gomega.Gomega) {
		c := condition(g, vc, fleetv1.ConditionResourcesReserved)
		g.Expect(c.Status).To(gomega.Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(gomega.Equal(fleetv1.ReasonInsufficientCapacity))
		g.Expect(c.Message).To(gomega.ContainSubstring("host resize-a has no room to grow the vcluster: insufficient cpu"))
		g.Expect(c.Message).To(gomega.ContainSubstring("keeps cpu 2"))
		g.Expect(get(t, vc).Status.Reserved.CPU.String()).To(gomega.Equal("2"))
		g.Expect(quota(g)).To(gomega.Equal("2"))
	})

	// A hub that restarts rebuilds its ledger from what the host holds,
	// not from the spec: 2 CPUs and overhead, so a 5-CPU neighbour fits.
	if err := stopHub(); err != nil {
		t.Fatal(err)
	}
	if err := startHub(); err != nil {
		t.Fatal(err)
	}
	placedOn(t, newVC(t, "neighbour", "r-resize", "5"), "resize-a")

	resize("100m")
	eventually(t, func(g gomega.Gomega) {
		c := condition(g, vc, fleetv1.ConditionResourcesReserved)
		g.Expect(c.Status).To(gomega.Equal(metav1.ConditionTrue))
		g.Expect(quota(g)).To(gomega.Equal("100m"))
	})
}
