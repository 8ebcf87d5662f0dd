package framework

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega/gexec"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/lab"
)

// LabSuite is a lab shared by the specs of one e2e suite.
type LabSuite struct {
	Lab *lab.Lab
	// Mgmt is an admin client of the management cluster.
	Mgmt client.Client
	// VfleetBin is the vfleet binary the lab's hub and agents run.
	VfleetBin string
}

// SetupLabSuite registers the suite's BeforeSuite, which builds vfleet and
// starts a lab of hosts, and its AfterSuite, which stops the lab and checks
// that nothing outlives it. Call it from a package-level var.
func SetupLabSuite(name string, hosts []lab.HostConfig) *LabSuite {
	s := &LabSuite{}
	BeforeSuite(func(ctx SpecContext) {
		s.VfleetBin = BuildVfleet()
		s.Lab = StartLab(ctx, StartLabInput{Name: name, Hosts: hosts, VfleetBin: s.VfleetBin})
		s.Mgmt = ManagementClient(s.Lab)
	}, NodeTimeout(5*time.Minute))
	AfterSuite(func(ctx SpecContext) {
		defer gexec.CleanupBuildArtifacts()
		if s.Lab != nil {
			StopLab(ctx, s.Lab)
		}
	}, NodeTimeout(2*time.Minute))
	return s
}
