// Package tenancy_test attacks a lab as a tenant would: from inside its
// vcluster, with the credentials it holds on the management cluster, and
// with tokens it could steal from its host namespace. Every spec checks on
// the host that nothing arrived, and that the tenant was told which policy
// stopped it.
package tenancy_test

import (
	"testing"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestTenancy(t *testing.T) {
	framework.RunSuite(t, "Tenancy suite")
}

var suite = framework.SetupLabSuite("tenancy", lab.DefaultHosts(1, 2))
