package federation_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/stores/postgres"
	"github.com/vfleet/vfleet/test/framework"
)

// Environment of the randomized fault schedule: its length (a Go
// duration; `make soak` sets a long one) and its seed (to replay a run).
const (
	chaosDurationEnv = "VFLEET_CHAOS_DURATION"
	chaosSeedEnv     = "VFLEET_CHAOS_SEED"
)

// chaosDuration is the schedule's length: short in `make test`.
func chaosDuration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv(chaosDurationEnv)); err == nil && d > 0 {
		return d
	}
	return 90 * time.Second
}

func chaosSeed() uint64 {
	if s, err := strconv.ParseUint(os.Getenv(chaosSeedEnv), 10, 64); err == nil {
		return s
	}
	return uint64(time.Now().UnixNano())
}

// fault is one step of the schedule: it breaks something, and undo puts
// it back.
type fault struct {
	what string
	undo func() error
}

// randomFault breaks one hub or host, or cuts one region off, at random.
func randomFault(rng *rand.Rand) fault {
	region := fed.Names()[rng.IntN(len(fed.Names()))]
	l := fed.Region(region)
	host := l.Hosts()[rng.IntN(len(l.Hosts()))]
	restart := func(c *lab.Cluster) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			return c.Start(ctx)
		}
	}
	switch rng.IntN(5) {
	case 0:
		Expect(l.Management().Kill(lab.Hub)).To(Succeed())
		return fault{"SIGKILL the hub of " + region, restart(l.Management())}
	case 1:
		Expect(l.Management().Pause(lab.Hub)).To(Succeed())
		return fault{"SIGSTOP the hub of " + region, func() error { return l.Management().Resume(lab.Hub) }}
	case 2:
		Expect(host.Kill()).To(Succeed())
		return fault{"SIGKILL every process of host " + host.Name, restart(host)}
	case 3:
		Expect(host.Pause(lab.Agent)).To(Succeed())
		return fault{"SIGSTOP the agent of host " + host.Name, func() error { return host.Resume(lab.Agent) }}
	default:
		Expect(fed.Cut(region)).To(Succeed())
		return fault{"cut " + region + " off the other regions", fed.Heal}
	}
}

// chaos runs External vclusters with writers, one per region, through a
// randomized schedule of faults, one at a time, then checks what must
// hold whatever the schedule: in each store, the epochs wrote one after
// another, never two at once; no acknowledged write is lost; and every
// vcluster is Ready again.
func chaos(ctx SpecContext) {
	seed := chaosSeed()
	rng := rand.New(rand.NewPCG(seed, seed))
	GinkgoWriter.Printf("fault schedule: %s, seed %d (replay with %s=%d)\n", chaosDuration(), seed, chaosSeedEnv, seed)
	AddReportEntry("fault schedule seed", seed)

	type tenant struct {
		vc *fleetv1.VirtualCluster
		w  *framework.Writer
	}
	var tenants []tenant
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	for _, region := range fed.Names() {
		vc := createExternal(ctx, region, "chaos-"+region)
		key := client.ObjectKeyFromObject(vc)
		_, vc = waitReadyIn(ctx, key, []string{region}, 0)
		recordWriters(ctx, vc)
		w := newWriter(key)
		go w.Run(wctx)
		tenants = append(tenants, tenant{vc, w})
	}

	end := time.Now().Add(chaosDuration())
	for time.Now().Before(end) {
		f := randomFault(rng)
		hold := time.Duration(3+rng.IntN(18)) * time.Second
		By(fmt.Sprintf("%s for %s", f.what, hold))
		time.Sleep(hold) // the fault itself: how long it lasts is the schedule
		Expect(f.undo()).To(Succeed(), "undo: %s", f.what)
		time.Sleep(time.Duration(2+rng.IntN(8)) * time.Second)
	}

	By("every vcluster is Ready again, and every writer goes on")
	for _, t := range tenants {
		t.w.Mark()
	}
	for _, t := range tenants {
		waitReadyIn(ctx, client.ObjectKeyFromObject(t.vc), fed.Names(), 0)
		Eventually(t.w.Since).WithTimeout(2*time.Minute).Should(BeNumerically(">=", 5), "writes to %s", t.vc.Name)
	}
	stop()
	for _, t := range tenants {
		region, vc := running(ctx, client.ObjectKeyFromObject(t.vc))
		framework.ExpectAllThere(ctx, framework.VClusterConfig(ctx, mgmt[region], vc), t.w.All())
		expectEpochsInTurn(ctx, vc)
	}
}

// expectEpochsInTurn checks, in the store's own records, that the
// vcluster's epochs wrote in turn: every row of an epoch comes before
// every row of a later one, so no two epochs were live at once. It
// returns how many rows each epoch that wrote wrote.
func expectEpochsInTurn(ctx context.Context, vc *fleetv1.VirtualCluster) map[int64]int {
	conn := storeConn(ctx, vc)
	rows, err := conn.Query(ctx, "SELECT writer, min(id), max(id), count(*) FROM kine WHERE writer LIKE $1 GROUP BY writer", storeSpace(vc)+"_e%")
	Expect(err).NotTo(HaveOccurred())
	type span struct {
		epoch    int64
		min, max int64
		n        int
	}
	var spans []span
	for rows.Next() {
		var (
			writer string
			s      span
		)
		Expect(rows.Scan(&writer, &s.min, &s.max, &s.n)).To(Succeed())
		for e := int64(1); e <= vc.Status.Epoch; e++ {
			if writer == postgres.EpochRole(storeSpace(vc), e) {
				s.epoch = e
			}
		}
		Expect(s.epoch).NotTo(BeZero(), "rows by %s, which is no epoch of %s up to %d", writer, vc.Name, vc.Status.Epoch)
		spans = append(spans, s)
	}
	Expect(rows.Err()).NotTo(HaveOccurred())
	Expect(spans).NotTo(BeEmpty())
	GinkgoWriter.Printf("%s: epochs that wrote %+v\n", vc.Name, spans)
	wrote := map[int64]int{}
	for _, a := range spans {
		wrote[a.epoch] = a.n
		for _, b := range spans {
			if a.epoch < b.epoch {
				Expect(a.max).To(BeNumerically("<", b.min), "%s: epoch %d wrote row %d after epoch %d's first, %d", vc.Name, a.epoch, a.max, b.epoch, b.min)
			}
		}
	}
	return wrote
}
