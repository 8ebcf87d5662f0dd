package federation_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/takeover"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

// perRegion is how many External vclusters each region runs in the suite:
// few, as three regions' clusters share two cores. The benchmark runs 20.
const perRegion = 2

// regionLoss kills the last region and checks that its External
// vclusters come back in the others.
func regionLoss(ctx SpecContext) {
	{
		// The first region keeps the stores: the lost one is the last.
		lost := lab.RegionName(3)
		survivors := []string{lab.RegionName(1), lab.RegionName(2)}

		type tenant struct {
			region string
			vc     *fleetv1.VirtualCluster
			w      *framework.Writer
		}
		var tenants []*tenant
		for i := 1; i <= 3; i++ {
			for j := 1; j <= perRegion; j++ {
				region := lab.RegionName(i)
				tenants = append(tenants, &tenant{region: region, vc: createExternal(ctx, region, fmt.Sprintf("r%d-tenant-%d", i, j))})
			}
		}
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		for _, t := range tenants {
			key := client.ObjectKeyFromObject(t.vc)
			_, t.vc = waitReadyIn(ctx, key, []string{t.region}, 0)
			t.w = newWriter(key)
			go t.w.Run(wctx)
		}
		for _, t := range tenants {
			Eventually(t.w.Since).WithTimeout(time.Minute).Should(BeNumerically(">=", 10), "writes to %s", t.vc.Name)
		}

		By("SIGKILL every process of " + lost + ": its management cluster, hub, host, agent and control planes")
		begin := time.Now()
		Expect(fed.Kill(lost)).To(Succeed())
		for _, t := range tenants {
			if t.region != lost {
				continue
			}
			region, moved := waitReadyIn(ctx, client.ObjectKeyFromObject(t.vc), survivors, t.vc.Status.Epoch)
			GinkgoWriter.Printf("%s: Ready in %s at epoch %d on %s, %s after the loss\n", t.vc.Name, region, moved.Status.Epoch, moved.Status.Host, time.Since(begin).Round(100*time.Millisecond))
			Expect(moved.Annotations).To(HaveKeyWithValue(takeover.AnnotationTakenOverFrom, lost))
			Expect(moved.StoreUID()).To(Equal(t.vc.StoreUID()), "the same store space, so the same data")
			expectFenced(ctx, t.vc)
		}

		By("the survivors' own vclusters did not move")
		for _, t := range tenants {
			if t.region == lost {
				continue
			}
			region, now := running(ctx, client.ObjectKeyFromObject(t.vc))
			Expect(region).To(Equal(t.region))
			Expect(now.Status.Epoch).To(Equal(t.vc.Status.Epoch))
		}

		By("every writer goes on, and every acknowledged write is there")
		for _, t := range tenants {
			t.w.Mark()
		}
		for _, t := range tenants {
			Eventually(t.w.Since).WithTimeout(time.Minute).Should(BeNumerically(">=", 5), "writes to %s", t.vc.Name)
		}
		stop()
		for _, t := range tenants {
			region, vc := running(ctx, client.ObjectKeyFromObject(t.vc))
			Expect(slices.Contains(survivors, region)).To(BeTrue())
			framework.ExpectAllThere(ctx, framework.VClusterConfig(ctx, mgmt[region], vc), t.w.All())
		}
	}
}
