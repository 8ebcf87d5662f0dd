// Package failover_test is the e2e suite of failover and disaster recovery
// over a lab with real PostgreSQL and etcd stores: a host killed or
// partitioned, a vcluster brought back elsewhere with every acknowledged
// write, never two writers; planned migrations and drains; and the
// operations that must be refused.
package failover_test

import (
	"testing"

	"github.com/onsi/gomega/gexec"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestFailover(t *testing.T) {
	framework.RunSuite(t, "Failover suite")
}

// Three hosts: one to lose, and two to fail over and migrate between.
var suite = framework.SetupLabSuite("failover", lab.DefaultHosts(3, 1))

// vfleet runs the CLI against the lab's management cluster.
func vfleet(args ...string) *gexec.Session { return suite.Vfleet(args...) }
