// Package vcluster_test is the e2e suite of virtual clusters' lives: created,
// used with their own kubeconfig, kept alive through crashes and agent
// restarts, and deleted without a trace, over a lab of real processes.
package vcluster_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestVCluster(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "VCluster suite")
}

// vfleet runs the CLI against the lab's management cluster and waits for it.
func vfleet(args ...string) *gexec.Session {
	cmd := exec.Command(suite.VfleetBin, args...)
	// A HOME in the lab, so that connect never touches the user's
	// kubeconfig.
	home := filepath.Join(suite.Lab.Dir(), "cli-home")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+suite.Lab.Management().Kubeconfig(), "HOME="+home)
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(s).WithTimeout(5 * time.Minute).Should(gexec.Exit())
	return s
}

var suite = framework.SetupLabSuite("vcluster", lab.DefaultHosts(3, 2))
