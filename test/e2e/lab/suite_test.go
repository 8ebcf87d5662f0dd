// Package lab_test is the e2e suite of the lab itself: a fleet of real
// Kubernetes processes starts, runs workloads, survives injected faults and
// leaves nothing behind.
package lab_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

func TestLab(t *testing.T) {
	framework.RunSuite(t, "Lab suite")
}

var (
	// fleet is the suite's shared lab: 1 management cluster and 3 hosts.
	fleet *lab.Lab
	// vfleetBin is the vfleet binary built for the CLI specs.
	vfleetBin string
)

var _ = BeforeSuite(func(ctx SpecContext) {
	vfleetBin = framework.BuildVfleet()
	fleet = framework.StartLab(ctx, framework.StartLabInput{Name: "lab", Hosts: lab.DefaultHosts(3, 2), VfleetBin: vfleetBin})
}, NodeTimeout(5*time.Minute))

var _ = AfterSuite(func(ctx SpecContext) {
	defer gexec.CleanupBuildArtifacts()
	if fleet == nil {
		return
	}
	Expect(fleet.Pids()).To(HaveLen(7 + 3*6)) // management: 7 processes (PostgreSQL, the etcd store and the gateway among them), each host: 6
	framework.StopLab(ctx, fleet)
}, NodeTimeout(2*time.Minute))

// requestTimeout bounds one API request in specs that expect an API to be
// unreachable.
const requestTimeout = 3 * time.Second

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, requestTimeout)
}
