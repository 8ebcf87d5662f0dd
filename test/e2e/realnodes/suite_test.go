// Package realnodes_test is the e2e suite of the lab's real nodes: a
// vcluster's containers really run (containerd, kubelet, runc), and
// `kubectl logs`, `exec` and Services work through the vcluster as on any
// cluster. It needs root, `make images` and `make node-packages`.
package realnodes_test

import (
	"testing"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestRealNodes(t *testing.T) {
	framework.RunSuite(t, "Real nodes suite")
}

// One host with two kwok nodes (room for two vclusters) and a real node.
var suite = framework.SetupLabSuite("realnodes", func() []lab.HostConfig {
	hosts := lab.DefaultHosts(1, 2)
	hosts[0].RealNodes = 1
	return hosts
}())
