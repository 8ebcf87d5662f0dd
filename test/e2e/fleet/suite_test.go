// Package fleet_test is the e2e suite of the fleet's catalogue: hosts join
// through their agents, heartbeat, report capacity, and are confined to
// their own corner of the management cluster.
package fleet_test

import (
	"testing"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestFleet(t *testing.T) {
	framework.RunSuite(t, "Fleet suite")
}

var suite = framework.SetupLabSuite("fleet", lab.DefaultHosts(3, 2))
