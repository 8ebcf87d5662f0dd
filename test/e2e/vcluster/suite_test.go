// Package vcluster_test is the e2e suite of virtual clusters' lives: created,
// used with their own kubeconfig, kept alive through crashes and agent
// restarts, and deleted without a trace, over a lab of real processes.
package vcluster_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestVCluster(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "VCluster suite")
}

var (
	fleet     *lab.Lab
	vfleetBin string
	mgmt      client.Client
	// home is the CLI's HOME, so that connect never touches the user's
	// kubeconfig.
	home string
)

var _ = BeforeSuite(func(ctx SpecContext) {
	vfleetBin = framework.BuildVfleet()
	fleet = framework.StartLab(ctx, framework.StartLabInput{Name: "vcluster", Hosts: lab.DefaultHosts(3, 2), VfleetBin: vfleetBin})
	mgmt = framework.ManagementClient(fleet)
	home = GinkgoT().TempDir()
}, NodeTimeout(5*time.Minute))

var _ = AfterSuite(func(ctx SpecContext) {
	defer gexec.CleanupBuildArtifacts()
	if fleet != nil {
		framework.StopLab(ctx, fleet)
	}
}, NodeTimeout(2*time.Minute))

// vfleet runs the CLI against the lab's management cluster and waits for it.
func vfleet(args ...string) *gexec.Session {
	cmd := exec.Command(vfleetBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+fleet.Management().Kubeconfig(), "HOME="+home)
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(s).WithTimeout(5 * time.Minute).Should(gexec.Exit())
	return s
}
