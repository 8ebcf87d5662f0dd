// Package kuberuntime_test is the e2e suite of the agent's kubernetes
// runtime for real: control planes run as pods of the locally built vfleet
// image on a real node of their host, and serve their tenants from there.
// It needs root, `make images` and `make node-packages`.
package kuberuntime_test

import (
	"testing"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestKubernetesRuntime(t *testing.T) {
	framework.RunSuite(t, "Kubernetes runtime suite")
}

// One host with a kwok node and a real node, whose agent runs control
// planes as pods.
var suite = framework.SetupLabSuite("kuberuntime", func() []lab.HostConfig {
	hosts := lab.DefaultHosts(1, 1)
	hosts[0].RealNodes, hosts[0].Runtime = 1, lab.RuntimeKubernetes
	return hosts
}())
