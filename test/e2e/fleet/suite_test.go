// Package fleet_test is the e2e suite of the fleet's catalogue: hosts join
// through their agents, heartbeat, report capacity, and are confined to
// their own corner of the management cluster.
package fleet_test

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestFleet(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Fleet suite")
}

var (
	fleet     *lab.Lab
	vfleetBin string
	// mgmt is an admin client of the management cluster.
	mgmt client.Client
)

var _ = BeforeSuite(func(ctx SpecContext) {
	vfleetBin = framework.BuildVfleet()
	fleet = framework.StartLab(ctx, framework.StartLabInput{Name: "fleet", Hosts: lab.DefaultHosts(3, 2), VfleetBin: vfleetBin})
	mgmt = framework.ManagementClient(fleet)
}, NodeTimeout(5*time.Minute))

var _ = AfterSuite(func(ctx SpecContext) {
	defer gexec.CleanupBuildArtifacts()
	if fleet != nil {
		framework.StopLab(ctx, fleet)
	}
}, NodeTimeout(2*time.Minute))
