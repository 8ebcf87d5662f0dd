// Package syncer_test is the e2e suite of the syncer over a lab: a
// tenant's workloads run on the host and the vcluster sees them running.
package syncer_test

import (
	"testing"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestSyncer(t *testing.T) {
	framework.RunSuite(t, "Syncer suite")
}

// One host, so that both vclusters of the collision spec share it, with
// room for the third of the other kinds.
var suite = framework.SetupLabSuite("syncer", lab.DefaultHosts(1, 3))
