package syncer_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("Traces", func() {
	It("follows a vcluster's create as one trace across the hub, the agent and the control plane", func(ctx SpecContext) {
		t := suite.NewTenant(ctx, "traced")
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(suite.Mgmt.Delete(ctx, t.VC))).To(Succeed()) })
		Expect(t.VC.Status.Trace).To(BeNil(), "a Ready vcluster has no operation under way")

		spans := suite.ExpectTrace(ctx, t.VC, "VirtualCluster Create", map[string]string{
			"Place":               "vfleet-hub",
			"Start control plane": "vfleet-agent",
			"Start store":         "vfleet-controlplane", "Start apiserver": "vfleet-controlplane", "First sync": "vfleet-controlplane",
		})
		// The hub's and the agent's steps lie within the create; the
		// control plane's first sync may end after the hub saw it Ready.
		root := spans["VirtualCluster Create"]
		for _, name := range []string{"Place", "Start control plane", "Start apiserver"} {
			Expect(spans[name].Start).NotTo(BeTemporally("<", root.Start), "span %q", name)
			Expect(spans[name].End).NotTo(BeTemporally(">", root.End), "span %q", name)
		}
	})
})
