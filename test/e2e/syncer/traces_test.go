package syncer_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/test/framework"
)

var _ = Describe("Traces", func() {
	It("follows a vcluster's create as one trace across the hub, the agent and the control plane", func(ctx SpecContext) {
		t := suite.NewTenant(ctx, "traced")
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(suite.Mgmt.Delete(ctx, t.VC))).To(Succeed()) })
		Expect(t.VC.Status.Trace).To(BeNil(), "a Ready vcluster has no operation under way")

		By("the ControlPlane carries the create's trace to the agent")
		cp := &fleetv1.ControlPlane{}
		Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(t.VC.Status.Host), Name: virtualcluster.ControlPlaneName(t.VC)}, cp)).To(Succeed())
		traceparent := cp.Annotations[fleetv1.AnnotationTraceparent]
		parts := strings.Split(traceparent, "-")
		Expect(parts).To(HaveLen(4), "traceparent %q", traceparent)
		traceID := parts[1]

		By("every process exports its part under the root the hub recorded")
		// service of each span's process, and the span each is under
		// ("" for the root).
		want := map[string]string{
			"VirtualCluster Create": "vfleet-hub", "Place": "vfleet-hub",
			"Start control plane": "vfleet-agent",
			"Start store":         "vfleet-controlplane", "Start apiserver": "vfleet-controlplane", "First sync": "vfleet-controlplane",
		}
		var spans map[string]framework.ReceivedSpan
		Eventually(func(g Gomega) {
			spans = map[string]framework.ReceivedSpan{}
			for _, s := range suite.Traces.Trace(traceID) {
				g.Expect(spans).NotTo(HaveKey(s.Name), "span %q twice", s.Name)
				spans[s.Name] = s
			}
			for name := range want {
				g.Expect(spans).To(HaveKey(name))
			}
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		root := spans["VirtualCluster Create"]
		Expect(root.ParentSpanID).To(BeEmpty())
		Expect(root.SpanID).To(Equal(parts[2]), "the root is recorded with the IDs the hub handed out")
		Expect(root.Attributes).To(HaveKeyWithValue("vfleet.virtualcluster.name", "traced"))
		for name, service := range want {
			s := spans[name]
			Expect(s.Service).To(Equal(service), "span %q", name)
			Expect(s.Error).To(BeEmpty(), "span %q", name)
			if name != root.Name {
				Expect(s.ParentSpanID).To(Equal(root.SpanID), "span %q is not under the root", name)
			}
		}
		// The hub's steps lie within the create; the control plane's
		// first sync may end after the hub saw it Ready.
		for _, name := range []string{"Place", "Start control plane", "Start apiserver"} {
			Expect(spans[name].Start).NotTo(BeTemporally("<", root.Start), "span %q", name)
			Expect(spans[name].End).NotTo(BeTemporally(">", root.End), "span %q", name)
		}
	})
})
