// Package dashboards_test is make dashboards-check: Debian's Prometheus
// scrapes a lab in which a vcluster was created, one failed over and one
// migrated, and every query of every dashboard in dashboards/ must return
// data from it, as must every template variable.
package dashboards_test

import (
	"testing"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestDashboards(t *testing.T) {
	framework.RunSuite(t, "Dashboards suite")
}

// Two hosts, so that vclusters have somewhere to move.
var suite = framework.SetupLabSuite("dashboards", lab.DefaultHosts(2, 2))
