// Package vcluster_test is the e2e suite of virtual clusters' lives: created,
// used with their own kubeconfig, kept alive through crashes and agent
// restarts, and deleted without a trace, over a lab of real processes.
package vcluster_test

import (
	"testing"

	"github.com/onsi/gomega/gexec"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestVCluster(t *testing.T) {
	framework.RunSuite(t, "VCluster suite")
}

// vfleet runs the CLI against the lab's management cluster.
func vfleet(args ...string) *gexec.Session { return suite.Vfleet(args...) }

var suite = framework.SetupLabSuite("vcluster", lab.DefaultHosts(3, 2))
