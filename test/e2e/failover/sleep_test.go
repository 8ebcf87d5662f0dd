package failover_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

var _ = Describe("Sleep under a class that releases reservations", func() {
	It("wakes a vcluster whose host gave its room away on another host, with its data and the same kubeconfig", func(ctx SpecContext) {
		class := &fleetv1.VirtualClusterClass{
			ObjectMeta: metav1.ObjectMeta{Name: "release-asleep"},
			Spec: fleetv1.VirtualClusterClassSpec{
				Isolation:     fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityBaseline},
				AllowedStores: []string{lab.StoreName},
				Sleep:         fleetv1.ClassSleepPolicy{Reservation: fleetv1.ReservationRelease},
			},
		}
		Expect(suite.Mgmt.Create(ctx, class)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(suite.Mgmt.Delete(ctx, class))).To(Succeed()) })
		small := fleetv1.Resources{CPU: resource.MustParse("1"), Memory: resource.MustParse("1Gi"), Pods: 20}
		vc := create(ctx, &fleetv1.VirtualCluster{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "napper"},
			Spec:       fleetv1.VirtualClusterSpec{KubernetesVersion: k8sbin.Version, ClassName: class.Name, Resources: small, BackingStore: external},
		})
		host := vc.Status.Host
		saved := framework.VClusterConfig(ctx, suite.Mgmt, vc)
		kube, _ := framework.VClusterClients(saved)
		names := writeSome(ctx, kube, 5)

		s := vfleet("sleep", vc.Name)
		Expect(s).To(gexec.Exit(0))
		Eventually(func(g Gomega) {
			cur := &fleetv1.VirtualCluster{}
			g.Expect(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(vc), cur)).To(Succeed())
			g.Expect(cur.Status.ReservationReleased).To(BeTrue(), "conditions: %v", cur.Status.Conditions)
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())

		// Its room goes to another vcluster, which fills the host (8 CPUs).
		Expect(suite.Mgmt.Patch(ctx, &fleetv1.HostCluster{ObjectMeta: metav1.ObjectMeta{Name: host}},
			client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"e2e.vfleet.dev/fill":"napper"}}}`)))).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(suite.Mgmt.Patch(ctx, &fleetv1.HostCluster{ObjectMeta: metav1.ObjectMeta{Name: host}},
				client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"e2e.vfleet.dev/fill":null}}}`)))).To(Succeed())
		})
		filler := create(ctx, &fleetv1.VirtualCluster{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "room-taker"},
			Spec: fleetv1.VirtualClusterSpec{
				KubernetesVersion: k8sbin.Version,
				Resources:         fleetv1.Resources{CPU: resource.MustParse("7"), Memory: resource.MustParse("1Gi"), Pods: 20},
				BackingStore:      fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreEmbedded},
				Placement:         fleetv1.Placement{HostSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"e2e.vfleet.dev/fill": "napper"}}},
			},
		})
		Expect(filler.Status.Host).To(Equal(host))

		s = vfleet("wake", vc.Name)
		Expect(s).To(gexec.Exit(0))
		moved := waitMoved(ctx, vc)
		Expect(s.Out).To(gbytes.Say("awake on host " + moved.Status.Host))
		Expect(moved.Status.PlacementHistory[len(moved.Status.PlacementHistory)-1].Reason).To(Equal(fleetv1.PlacementWake))
		Expect(moved.Status.ReservationReleased).To(BeFalse())
		// Through the kubeconfig saved before it slept, unchanged.
		framework.ExpectAllThere(ctx, saved, names)
	}, NodeTimeout(6*time.Minute))
})
