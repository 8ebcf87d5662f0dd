// Package fleet_test is the e2e suite of the fleet's catalogue: hosts join
// through their agents, heartbeat, report capacity, and are confined to
// their own corner of the management cluster.
package fleet_test

import (
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/hub"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestFleet(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Fleet suite")
}

var (
	fleet     *lab.Lab
	vfleetBin string
	// mgmt is an admin client of the management cluster.
	mgmt client.Client
)

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	vfleetBin, err = gexec.Build("github.com/vfleet/vfleet/cmd/vfleet")
	Expect(err).NotTo(HaveOccurred())
	dir, err := os.MkdirTemp("", "vfleet-e2e-fleet-")
	Expect(err).NotTo(HaveOccurred())
	fleet, err = lab.New(lab.Config{Dir: dir, Hosts: lab.DefaultHosts(3, 2), VfleetBin: vfleetBin, Progress: GinkgoWriter})
	Expect(err).NotTo(HaveOccurred())
	Expect(fleet.Start(ctx)).To(Succeed())

	cfg, err := fleet.Management().RESTConfig()
	Expect(err).NotTo(HaveOccurred())
	mgmt, err = client.New(cfg, client.Options{Scheme: hub.Scheme()})
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(5*time.Minute))

var _ = AfterSuite(func(ctx SpecContext) {
	defer gexec.CleanupBuildArtifacts()
	if fleet == nil {
		return
	}
	pids := fleet.Pids()
	Expect(fleet.Stop(ctx)).To(Succeed())
	Expect(framework.Alive(pids)).To(BeEmpty())
	Expect(framework.ProcessesUsing(fleet.Dir())).To(BeEmpty())
	Expect(os.RemoveAll(fleet.Dir())).To(Succeed())
}, NodeTimeout(2*time.Minute))
