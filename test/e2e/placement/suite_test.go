// Package placement_test is the e2e suite of placement over a lab: where
// vclusters land under each strategy, how a request no host fits is
// explained, and that it is placed when the fleet grows.
package placement_test

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

func TestPlacement(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Placement suite")
}

var (
	fleet *lab.Lab
	mgmt  client.Client
)

var _ = BeforeSuite(func(ctx SpecContext) {
	fleet = framework.StartLab(ctx, framework.StartLabInput{Name: "placement", Hosts: lab.DefaultHosts(3, 2), VfleetBin: framework.BuildVfleet()})
	mgmt = framework.ManagementClient(fleet)
}, NodeTimeout(5*time.Minute))

var _ = AfterSuite(func(ctx SpecContext) {
	defer gexec.CleanupBuildArtifacts()
	if fleet != nil {
		framework.StopLab(ctx, fleet)
	}
}, NodeTimeout(2*time.Minute))
