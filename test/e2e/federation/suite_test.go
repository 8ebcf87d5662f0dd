// Package federation_test is the e2e suite of a federation of regions:
// three labs, each a management cluster with its hub and a host, whose
// hubs agree through raft across network namespaces. A region is lost
// (every process of it killed) or cut off (a packet filter in its hub's
// namespace), and its External vclusters must come back in another
// region with every acknowledged write, their old epochs fenced.
package federation_test

import (
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestFederation(t *testing.T) {
	framework.RunSuite(t, "Federation suite")
}

var (
	fed *lab.Federation
	// mgmt are admin clients of each region's management cluster, by
	// region.
	mgmt = map[string]client.Client{}
)

var _ = BeforeSuite(func(ctx SpecContext) {
	bin := framework.BuildVfleet()
	dir, err := os.MkdirTemp("", "vfleet-e2e-federation-")
	Expect(err).NotTo(HaveOccurred())
	fed, err = lab.NewFederation(lab.FederationConfig{
		Dir: dir, Regions: 3, HostsPerRegion: 1, Nodes: 2, VfleetBin: bin, Progress: GinkgoWriter, RegionLossAfter: regionLossAfter,
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(fed.Start(ctx)).To(Succeed())
	for i, l := range fed.Regions() {
		mgmt[lab.RegionName(i+1)] = framework.ManagementClient(l)
	}
}, NodeTimeout(8*time.Minute))

var _ = AfterSuite(func(ctx SpecContext) {
	defer gexec.CleanupBuildArtifacts()
	if fed == nil {
		return
	}
	var pids []int
	for _, l := range fed.Regions() {
		pids = append(pids, l.Pids()...)
	}
	Expect(fed.Stop(ctx)).To(Succeed())
	Expect(framework.Alive(pids)).To(BeEmpty(), "federation processes outlived it: %s", framework.DescribeProcesses(framework.Alive(pids)))
	for _, l := range fed.Regions() {
		left := framework.ProcessesUsing(l.Dir())
		Expect(left).To(BeEmpty(), "processes still use %s: %s", l.Dir(), framework.DescribeProcesses(left))
	}
	Expect(lab.FederationLeftovers()).To(BeEmpty(), "the federation's network is still on the machine")
	if os.Getenv("VFLEET_E2E_KEEP") == "" {
		Expect(os.RemoveAll(fed.Dir())).To(Succeed())
	}
}, NodeTimeout(3*time.Minute))
