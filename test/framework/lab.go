package framework

import (
	"context"
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/apis"
	"github.com/vfleet/vfleet/lab"
)

// StartLabInput is the input of StartLab.
type StartLabInput struct {
	// Hosts of the lab; the management cluster is always there.
	Hosts []lab.HostConfig
	// VfleetBin runs the hub and the agents.
	VfleetBin string
	// Name prefixes the lab's temporary directory.
	Name string
	// OTLPEndpoint receives the traces of the lab's vfleet processes.
	OTLPEndpoint string
}

// StartLab starts a lab in a new temporary directory, printing its progress
// to the Ginkgo writer, and fails the spec if it does not come up.
func StartLab(ctx context.Context, in StartLabInput) *lab.Lab {
	dir, err := os.MkdirTemp("", "vfleet-e2e-"+in.Name+"-")
	Expect(err).NotTo(HaveOccurred())
	l, err := lab.New(lab.Config{Dir: dir, Hosts: in.Hosts, VfleetBin: in.VfleetBin, Progress: GinkgoWriter, OTLPEndpoint: in.OTLPEndpoint})
	Expect(err).NotTo(HaveOccurred())
	Expect(l.Start(ctx)).To(Succeed())
	return l
}

// StopLab stops l, checks that none of its processes outlive it, by pid
// and by directory, nor anything its real nodes made on the machine, and
// deletes its directory unless VFLEET_E2E_KEEP is set.
func StopLab(ctx context.Context, l *lab.Lab) {
	pids := l.Pids()
	real := false
	for _, h := range l.Hosts() {
		real = real || h.Host.RealNodes > 0
	}
	Expect(l.Stop(ctx)).To(Succeed())
	Expect(Alive(pids)).To(BeEmpty(), "lab processes outlived the lab: %s", DescribeProcesses(Alive(pids)))
	left := ProcessesUsing(l.Dir())
	Expect(left).To(BeEmpty(), "processes still use the lab directory: %s", DescribeProcesses(left))
	if real {
		// Machine-wide: only one lab on the machine runs real nodes at a
		// time, and labs of kwok nodes make none of these.
		Expect(MachineLeftovers(l.Dir())).To(BeEmpty(), "the lab's real nodes left these on the machine")
	}
	if os.Getenv("VFLEET_E2E_KEEP") == "" {
		Expect(os.RemoveAll(l.Dir())).To(Succeed())
	}
}

// BuildVfleet builds the vfleet binary the lab runs as hub and agents.
// Call gexec.CleanupBuildArtifacts in AfterSuite.
func BuildVfleet() string {
	bin, err := gexec.Build("github.com/vfleet/vfleet/cmd/vfleet")
	Expect(err).NotTo(HaveOccurred())
	return bin
}

// ManagementClient is an admin client of the lab's management cluster that
// knows vfleet's API.
func ManagementClient(l *lab.Lab) client.Client {
	cfg, err := l.Management().RESTConfig()
	Expect(err).NotTo(HaveOccurred())
	c, err := client.New(cfg, client.Options{Scheme: apis.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	return c
}
