// Package placement_test is the e2e suite of placement over a lab: where
// vclusters land under each strategy, how a request no host fits is
// explained, and that it is placed when the fleet grows.
package placement_test

import (
	"testing"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestPlacement(t *testing.T) {
	framework.RunSuite(t, "Placement suite")
}

var suite = framework.SetupLabSuite("placement", lab.DefaultHosts(3, 2))
