package fleet_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/lab"
)

// leaseDuration is the agents' default Lease duration, which the lab keeps.
const leaseDuration = 10 * time.Second

func hostCluster(ctx context.Context, name string) *fleetv1.HostCluster {
	h := &fleetv1.HostCluster{}
	Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Name: name}, h)).To(Succeed())
	return h
}

func condition(h *fleetv1.HostCluster, t string) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(h.Status.Conditions, t); c != nil {
		return c.Status
	}
	return "<none>"
}

func tainted(h *fleetv1.HostCluster) bool {
	for _, t := range h.Spec.Taints {
		if t.Key == fleetv1.TaintUnreachable && t.Effect == corev1.TaintEffectNoSchedule {
			return true
		}
	}
	return false
}

// healthy fails until the host is Ready, Schedulable and untainted.
func healthy(ctx context.Context, name string) func(Gomega) {
	return func(g Gomega) {
		h := &fleetv1.HostCluster{}
		g.Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Name: name}, h)).To(Succeed())
		g.Expect(condition(h, fleetv1.ConditionReady)).To(Equal(metav1.ConditionTrue))
		g.Expect(condition(h, fleetv1.ConditionSchedulable)).To(Equal(metav1.ConditionTrue))
		g.Expect(tainted(h)).To(BeFalse())
	}
}

var _ = Describe("Hosts", Ordered, func() {
	It("join by themselves and show Ready with their real capacity", func(ctx SpecContext) {
		for _, h := range suite.Lab.Hosts() {
			Eventually(healthy(ctx, h.Name)).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
			// The agent may first have reported while nodes were still
			// turning Ready; the next report follows within a second.
			Eventually(func(g Gomega) {
				host := &fleetv1.HostCluster{}
				g.Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Name: h.Name}, host)).To(Succeed())
				g.Expect(host.Spec.Region).To(Equal(h.Host.Region))
				g.Expect(host.Spec.Zone).To(Equal(h.Host.Zone))
				g.Expect(host.Status.Region).To(Equal(h.Host.Region))
				g.Expect(host.Status.Nodes).To(BeEquivalentTo(2))
				// 2 nodes of 8 CPU, 32Gi and 110 pods.
				g.Expect(host.Status.Allocatable.Cpu().Cmp(resource.MustParse("16"))).To(BeZero(), "cpu %s", host.Status.Allocatable.Cpu())
				g.Expect(host.Status.Allocatable.Memory().Cmp(resource.MustParse("64Gi"))).To(BeZero())
				g.Expect(host.Status.Allocatable.Pods().Value()).To(BeEquivalentTo(220))
				g.Expect(host.Status.Committed.Cpu().IsZero()).To(BeTrue())
				g.Expect(host.Status.KubernetesVersions).To(Equal([]string{k8sbin.Version}))
			}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
		}
	})

	It("turns Unknown and tainted within the lease duration plus 1s of its agent's SIGKILL, and recovers when it restarts", func(ctx SpecContext) {
		host := suite.Lab.Hosts()[0]
		Eventually(healthy(ctx, host.Name)).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		Expect(host.Kill(lab.Agent)).To(Succeed())
		killed := time.Now()
		Eventually(func(g Gomega) {
			h := &fleetv1.HostCluster{}
			g.Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Name: host.Name}, h)).To(Succeed())
			g.Expect(condition(h, fleetv1.ConditionReady)).To(Equal(metav1.ConditionUnknown))
			g.Expect(tainted(h)).To(BeTrue())
			g.Expect(condition(h, fleetv1.ConditionSchedulable)).To(Equal(metav1.ConditionFalse))
		}).WithContext(ctx).WithTimeout(time.Until(killed.Add(leaseDuration + time.Second))).WithPolling(100 * time.Millisecond).Should(Succeed())
		GinkgoWriter.Printf("host %s was Unknown and tainted %s after its agent was killed\n", host.Name, time.Since(killed).Round(10*time.Millisecond))

		By("the other hosts stay Ready")
		for _, other := range suite.Lab.Hosts()[1:] {
			Expect(condition(hostCluster(ctx, other.Name), fleetv1.ConditionReady)).To(Equal(metav1.ConditionTrue))
		}

		By("restarting the agent, which uses the credentials it stored rather than the bootstrap token")
		Expect(host.Start(ctx)).To(Succeed())
		Eventually(healthy(ctx, host.Name)).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		log := procgroup.TailFile(filepath.Join(suite.Lab.Dir(), host.Name, "logs", "agent.log"), 200)
		Expect(log).To(ContainSubstring("Using stored credentials"))
		Expect(log).NotTo(ContainSubstring("Joined the fleet"))
	}, SpecTimeout(2*time.Minute))

	It("updates allocatable within 5s of a node joining the host", func(ctx SpecContext) {
		host := suite.Lab.Hosts()[1]
		before := hostCluster(ctx, host.Name).Status.Allocatable.Cpu().DeepCopy()
		name, err := host.AddNode(ctx)
		Expect(err).NotTo(HaveOccurred())
		added := time.Now()
		want := before.DeepCopy()
		want.Add(host.Host.Node.CPU)
		Eventually(func(g Gomega) {
			h := &fleetv1.HostCluster{}
			g.Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Name: host.Name}, h)).To(Succeed())
			g.Expect(h.Status.Allocatable.Cpu().Cmp(want)).To(BeZero(), "allocatable cpu %s, want %s", h.Status.Allocatable.Cpu(), &want)
			g.Expect(h.Status.Nodes).To(BeEquivalentTo(3))
		}).WithContext(ctx).WithTimeout(time.Until(added.Add(5 * time.Second))).WithPolling(100 * time.Millisecond).Should(Succeed())
		GinkgoWriter.Printf("node %s counted in allocatable after %s\n", name, time.Since(added).Round(10*time.Millisecond))
	}, SpecTimeout(time.Minute))

	It("shows cordoning in the API server's table of hosts", func(ctx SpecContext) {
		host := hostCluster(ctx, suite.Lab.Hosts()[2].Name)
		before := host.DeepCopy()
		host.Spec.Unschedulable = true
		Expect(suite.Mgmt.Patch(ctx, host, client.MergeFrom(before))).To(Succeed())

		// What `kubectl get hostclusters` prints is the server's Table.
		Eventually(func(g Gomega) {
			row := tableRow(ctx, g, host.Name)
			g.Expect(row["Ready"]).To(Equal("True"))
			g.Expect(row["Schedulable"]).To(Equal("False"))
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(meta.FindStatusCondition(hostCluster(ctx, host.Name).Status.Conditions, fleetv1.ConditionSchedulable).Reason).To(Equal(fleetv1.ReasonCordoned))

		row := tableRow(ctx, Default, suite.Lab.Hosts()[1].Name)
		Expect(row).To(HaveKeyWithValue("Region", suite.Lab.Hosts()[1].Host.Region))
		Expect(row).To(HaveKeyWithValue("CPU-Alloc", "24"))
		Expect(row).To(HaveKeyWithValue("CPU-Committed", "0"))
		Expect(row).To(HaveKeyWithValue("VClusters", "0"))
	})
})

// tableRow asks the API server for hostclusters as a Table, the way kubectl
// get does, and returns the named host's row by column name.
func tableRow(ctx context.Context, g Gomega, name string) map[string]string {
	kube, err := suite.Lab.Management().Client()
	g.Expect(err).NotTo(HaveOccurred())
	table := &metav1.Table{}
	err = kube.Discovery().RESTClient().Get().
		AbsPath("/apis", fleetv1.GroupVersion.Group, fleetv1.GroupVersion.Version, "hostclusters").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").
		Do(ctx).Into(table)
	g.Expect(err).NotTo(HaveOccurred())
	for _, r := range table.Rows {
		cells := map[string]string{}
		for i, col := range table.ColumnDefinitions {
			cells[col.Name] = strings.TrimSpace(fmt.Sprint(r.Cells[i]))
		}
		if cells["Name"] == name {
			return cells
		}
	}
	g.Expect(name).To(BeEmpty(), "no row for host")
	return nil
}
