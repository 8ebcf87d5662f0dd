package framework

import (
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
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
	// Traces has the spans the lab's hub, agents and control planes
	// exported.
	Traces *TraceReceiver
}

// SetupLabSuite registers the suite's BeforeSuite, which builds vfleet and
// starts a lab of hosts, and its AfterSuite, which stops the lab and checks
// that nothing outlives it. Call it from a package-level var.
func SetupLabSuite(name string, hosts []lab.HostConfig) *LabSuite {
	s := &LabSuite{}
	BeforeSuite(func(ctx SpecContext) {
		s.VfleetBin = BuildVfleet()
		s.Traces = StartTraceReceiver()
		s.Lab = StartLab(ctx, StartLabInput{Name: name, Hosts: hosts, VfleetBin: s.VfleetBin, OTLPEndpoint: s.Traces.Endpoint()})
		s.Mgmt = ManagementClient(s.Lab)
	}, NodeTimeout(5*time.Minute))
	AfterSuite(func(ctx SpecContext) {
		defer gexec.CleanupBuildArtifacts()
		if s.Lab != nil {
			StopLab(ctx, s.Lab)
		}
		if s.Traces != nil {
			s.Traces.Close()
		}
	}, NodeTimeout(2*time.Minute))
	return s
}

// Vfleet runs the CLI against the suite's management cluster and waits for
// it to exit. HOME is in the lab, so that connect never touches the user's
// kubeconfig.
func (s *LabSuite) Vfleet(args ...string) *gexec.Session {
	cmd := exec.Command(s.VfleetBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Lab.Management().Kubeconfig(), "HOME="+filepath.Join(s.Lab.Dir(), "cli-home"))
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(session).WithTimeout(5 * time.Minute).Should(gexec.Exit())
	return session
}
