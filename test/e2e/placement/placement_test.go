package placement_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/builder"
)

// Each lab host has 2 nodes of 8 CPU; a vcluster of 1 CPU commits 1.25
// with its control plane's overhead, so 12 fit on one host (15 of 16).
const count = 12

func makeNamespace(ctx context.Context, name string) {
	Expect(client.IgnoreAlreadyExists(suite.Mgmt.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
}

// createVClusters creates count vclusters of 1 CPU, 1Gi and 10 pods under
// strategy and returns the host each landed on. They sleep: placement is
// under test here, and 36 control planes would not fit two cores.
func createVClusters(ctx context.Context, ns string, strategy fleetv1.PlacementStrategy) map[string]int {
	makeNamespace(ctx, ns)
	for i := range count {
		vc := builder.MakeVirtualCluster(ns, fmt.Sprintf("vc-%02d", i)).CPU("1").Memory("1Gi").Strategy(strategy).Sleeping().Obj()
		vc.Spec.Resources.Pods = 10
		Expect(suite.Mgmt.Create(ctx, vc)).To(Succeed())
	}
	perHost := map[string]int{}
	Eventually(func(g Gomega) {
		var list fleetv1.VirtualClusterList
		g.Expect(suite.Mgmt.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(count))
		clear(perHost)
		for _, vc := range list.Items {
			g.Expect(vc.Status.Host).NotTo(BeEmpty(), "%s not placed: %v", vc.Name, vc.Status.Conditions)
			g.Expect(vc.Status.Epoch).To(BeEquivalentTo(1))
			perHost[vc.Status.Host]++
		}
	}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())

	By("creating one ControlPlane per vcluster in its host's namespace")
	for host, n := range perHost {
		var cps fleetv1.ControlPlaneList
		Eventually(func(g Gomega) {
			g.Expect(suite.Mgmt.List(ctx, &cps, client.InNamespace(fleetv1.HostNamespace(host)),
				client.MatchingLabels{fleetv1.LabelHost: host})).To(Succeed())
			mine := 0
			for _, cp := range cps.Items {
				if cp.Spec.VirtualCluster.Namespace == ns {
					mine++
				}
			}
			g.Expect(mine).To(Equal(n))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	}
	return perHost
}

// deleteVClusters deletes a namespace's vclusters and waits until they
// are gone, their reservations released.
func deleteVClusters(ctx context.Context, ns string) {
	Expect(suite.Mgmt.DeleteAllOf(ctx, &fleetv1.VirtualCluster{}, client.InNamespace(ns))).To(Succeed())
	Eventually(func(g Gomega) {
		var list fleetv1.VirtualClusterList
		g.Expect(suite.Mgmt.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		g.Expect(list.Items).To(BeEmpty())
	}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
}

func setPrices(ctx context.Context, host, cpuHour, memGiBHour string) {
	h := &fleetv1.HostCluster{}
	Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Name: host}, h)).To(Succeed())
	before := h.DeepCopy()
	h.Spec.Prices = &fleetv1.Prices{CPUHour: cpuHour, MemoryGiBHour: memGiBHour}
	Expect(suite.Mgmt.Patch(ctx, h, client.MergeFrom(before))).To(Succeed())
}

var _ = Describe("Placement", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		// Every host must be Ready and reporting its capacity first.
		Eventually(func(g Gomega) {
			for _, h := range suite.Lab.Hosts() {
				hc := &fleetv1.HostCluster{}
				g.Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Name: h.Name}, hc)).To(Succeed())
				g.Expect(meta.IsStatusConditionTrue(hc.Status.Conditions, fleetv1.ConditionReady)).To(BeTrue())
				g.Expect(hc.Status.Allocatable.Cpu().Cmp(resource.MustParse("16"))).To(BeZero())
			}
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
	})

	It("packs 12 vclusters onto one host under BinPack", func(ctx SpecContext) {
		perHost := createVClusters(ctx, "binpack", fleetv1.StrategyBinPack)
		Expect(perHost).To(Equal(map[string]int{"host-1": count}), "ties go to the first host by name, which then stays fullest")
		deleteVClusters(ctx, "binpack")
	}, SpecTimeout(3*time.Minute))

	It("spreads 12 vclusters evenly over the 3 hosts under Spread", func(ctx SpecContext) {
		perHost := createVClusters(ctx, "spread", fleetv1.StrategySpread)
		Expect(perHost).To(Equal(map[string]int{"host-1": 4, "host-2": 4, "host-3": 4}))
		deleteVClusters(ctx, "spread")
	}, SpecTimeout(3*time.Minute))

	It("puts 12 vclusters on the cheapest host under LowestCost", func(ctx SpecContext) {
		setPrices(ctx, "host-1", "0.040", "0.005")
		setPrices(ctx, "host-2", "0.021", "0.003")
		setPrices(ctx, "host-3", "0.033", "0.004")
		perHost := createVClusters(ctx, "lowestcost", fleetv1.StrategyLowestCost)
		Expect(perHost).To(Equal(map[string]int{"host-2": count}))
		deleteVClusters(ctx, "lowestcost")
	}, SpecTimeout(3*time.Minute))

	It("keeps a vcluster too large for any host Pending with the explanation, and places it once a bigger host joins", func(ctx SpecContext) {
		makeNamespace(ctx, "big")
		vc := builder.MakeVirtualCluster("big", "huge").CPU("20").Memory("8Gi").Obj()
		Expect(suite.Mgmt.Create(ctx, vc)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &fleetv1.VirtualCluster{}
			g.Expect(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(vc), got)).To(Succeed())
			g.Expect(got.Status.Phase).To(Equal(fleetv1.PhasePending))
			c := meta.FindStatusCondition(got.Status.Conditions, fleetv1.ConditionScheduled)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(fleetv1.ReasonUnschedulable))
			g.Expect(c.Message).To(Equal("0/3 hosts fit: 3 insufficient cpu"))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		// It stays so: nothing retries it on a timer into a wrong place.
		Consistently(func() string {
			got := &fleetv1.VirtualCluster{}
			Expect(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(vc), got)).To(Succeed())
			return got.Status.Host
		}).WithContext(ctx).WithTimeout(3 * time.Second).Should(BeEmpty())

		By("a host with two 16-CPU nodes joining")
		big := lab.HostConfig{Name: "host-big", Region: "region-b", Zone: "region-b-2", Nodes: 2,
			Node: lab.NodeCapacity{CPU: resource.MustParse("16"), Memory: resource.MustParse("64Gi"), Pods: 110}}
		_, err := suite.Lab.AddHost(ctx, big)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			got := &fleetv1.VirtualCluster{}
			g.Expect(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(vc), got)).To(Succeed())
			g.Expect(got.Status.Host).To(Equal("host-big"))
			g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, fleetv1.ConditionScheduled)).To(BeTrue())
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		Eventually(func() error {
			return suite.Mgmt.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace("host-big"), Name: virtualcluster.ControlPlaneName(vc)}, &fleetv1.ControlPlane{})
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	}, SpecTimeout(4*time.Minute))
})
