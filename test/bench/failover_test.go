package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/moves"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/builder"
)

// failovers and migrations are how many of each one run measures.
const (
	failovers  = 5
	migrations = 3
)

// BenchmarkFailover measures, with default settings, the recovery time of
// an External vcluster from the SIGKILL of every process of its host
// (detection included) to Ready on another host, over several failovers;
// and the API downtime a tenant sees during planned migrations.
func BenchmarkFailover(b *testing.B) {
	vfleet := goBuild(b, b.TempDir(), "github.com/vfleet/vfleet/cmd/vfleet")
	l := startLab(b, lab.DefaultHosts(3, 1), vfleet)
	mgmt := hubClient(b, l)
	for _, store := range []string{lab.StoreName, lab.EtcdStoreName} {
		b.Run(store, func(b *testing.B) { measureFailover(b, l, mgmt, store) })
	}
}

// measureFailover fails over and migrates one vcluster on store, then
// deletes it.
func measureFailover(b *testing.B, l *lab.Lab, mgmt client.Client, store string) {
	ctx := context.Background()
	vc := builder.MakeVirtualCluster("default", "failover-"+store).CPU("1").Memory("1Gi").External(store).Obj()
	if err := mgmt.Create(ctx, vc); err != nil {
		b.Fatal(err)
	}
	// Gone before the next store's runs, so as not to load them.
	defer func() {
		_ = mgmt.Delete(ctx, vc)
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if err := mgmt.Get(ctx, client.ObjectKeyFromObject(vc), &fleetv1.VirtualCluster{}); apierrors.IsNotFound(err) {
				return
			}
		}
	}()
	vc = waitEpochReady(b, mgmt, vc, 1)

	var rto, seen []time.Duration
	for range failovers {
		lost := vc.Status.Host
		// A client asking through the kubeconfig the tenant holds: the
		// region's gateway, which holds its requests during the move.
		prober := moves.NewProber(mgmt, vc)
		pctx, stop := context.WithCancel(ctx)
		go prober.Run(pctx)
		waitAnswered(b, prober, time.Now())
		start := time.Now()
		if err := l.Host(lost).Kill(); err != nil {
			b.Fatal(err)
		}
		vc = waitEpochReady(b, mgmt, vc, vc.Status.Epoch+1)
		rto = append(rto, time.Since(start))
		waitAnswered(b, prober, time.Now())
		stop()
		seen = append(seen, prober.Downtime())
		fmt.Printf("failover %d: %s -> %s in %s; a client through the gateway went unanswered for %s\n", len(rto), lost, vc.Status.Host,
			rto[len(rto)-1].Round(10*time.Millisecond), seen[len(seen)-1].Round(10*time.Millisecond))
		// The host comes back, cleans up its stale epoch, and may be
		// failed over to next time.
		if err := l.Host(lost).Start(ctx); err != nil {
			b.Fatal(err)
		}
	}

	var down, took []time.Duration
	for range migrations {
		to := ""
		for _, h := range l.Hosts() {
			if h.Name != vc.Status.Host {
				to = h.Name
				break
			}
		}
		prober := moves.NewProber(mgmt, vc)
		pctx, stop := context.WithCancel(ctx)
		go prober.Run(pctx)
		time.Sleep(time.Second) // a baseline of answers before the move
		start := time.Now()
		id, err := moves.Request(ctx, mgmt, vc, moves.Move{Type: fleetv1.OperationMigration, To: to})
		if err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		if _, err := moves.Wait(wctx, mgmt, client.ObjectKeyFromObject(vc), id, nil); err != nil {
			b.Fatal(err)
		}
		cancel()
		took = append(took, time.Since(start))
		time.Sleep(time.Second) // the prober sees the new endpoint answer
		stop()
		down = append(down, prober.Downtime())
		vc = waitEpochReady(b, mgmt, vc, vc.Status.Epoch+1)
		fmt.Printf("migration %d: to %s in %s, API unavailable for %s\n", len(down), to, took[len(took)-1].Round(10*time.Millisecond), down[len(down)-1].Round(10*time.Millisecond))
	}

	fmt.Printf("\n== failover benchmark (3 hosts of 1 kwok node, store %s, default settings, %d CPUs)\n", store, numCPU())
	fmt.Printf("RTO, SIGKILL of the host to Ready elsewhere (%d runs): p50 %s, p95 %s\n", len(rto), pct(rto, 50).Round(10*time.Millisecond), pct(rto, 95).Round(10*time.Millisecond))
	fmt.Printf("RTO as a client through the gateway sees it, last answer before to first after (%d runs): p50 %s, p95 %s\n", len(seen), pct(seen, 50), pct(seen, 95))
	fmt.Printf("planned migration (%d runs): downtime p50 %s, max %s; whole move p50 %s\n", len(down),
		pct(down, 50).Round(10*time.Millisecond), pct(down, 100).Round(10*time.Millisecond), pct(took, 50).Round(10*time.Millisecond))
	b.ReportMetric(pct(rto, 50).Seconds(), "rto-p50-s")
	b.ReportMetric(pct(rto, 95).Seconds(), "rto-p95-s")
	b.ReportMetric(pct(seen, 50).Seconds(), "client-rto-p50-s")
	b.ReportMetric(pct(down, 50).Seconds(), "migration-downtime-p50-s")
}

// waitAnswered waits until p has had an answer after since.
func waitAnswered(b *testing.B, p *moves.Prober, since time.Time) {
	for deadline := time.Now().Add(time.Minute); !p.AnsweredAfter(since); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the vcluster did not answer through its kubeconfig within a minute")
		}
	}
}

// waitEpochReady waits until the vcluster is Ready at epoch.
func waitEpochReady(b *testing.B, mgmt client.Client, vc *fleetv1.VirtualCluster, epoch int64) *fleetv1.VirtualCluster {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		got := &fleetv1.VirtualCluster{}
		if err := mgmt.Get(context.Background(), client.ObjectKeyFromObject(vc), got); err == nil &&
			got.Status.Epoch >= epoch && got.Status.Phase == fleetv1.PhaseReady {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("vcluster %s not Ready at epoch %d after 3 minutes", vc.Name, epoch)
	return nil
}
