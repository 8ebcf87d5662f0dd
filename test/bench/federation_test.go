package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/builder"
)

// regionLossVClusters is how many External vclusters the lost region
// runs: 20, as the federation issue measures, or VFLEET_BENCH_VCLUSTERS
// (a multiple of 5), to see how the RTO grows with the starts a
// surviving region must make at once.
func regionLossVClusters(b *testing.B) int {
	v := os.Getenv("VFLEET_BENCH_VCLUSTERS")
	if v == "" {
		return 20
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n%5 != 0 {
		b.Fatalf("VFLEET_BENCH_VCLUSTERS=%q: want a positive multiple of 5", v)
	}
	return n
}

// BenchmarkRegionLoss measures, with the hubs' default timings, the
// recovery of a whole region: 20 External vclusters run in the last of
// three regions; every process of that region is killed; each vcluster's
// RTO runs from the SIGKILL to Ready in a surviving region, detection
// (the region's silence) included.
func BenchmarkRegionLoss(b *testing.B) {
	ctx := context.Background()
	vfleet := goBuild(b, b.TempDir(), "github.com/vfleet/vfleet/cmd/vfleet")
	dir, err := os.MkdirTemp("", "vfleet-bench-federation-")
	if err != nil {
		b.Fatal(err)
	}
	// Room for the lost region's vclusters in a survivor: two hosts a
	// region, as a lab host runs at most 16 control planes, of two nodes
	// of 8 cores.
	fed, err := lab.NewFederation(lab.FederationConfig{Dir: dir, Regions: 3, HostsPerRegion: 2, Nodes: 2, VfleetBin: vfleet, Progress: os.Stderr})
	if err != nil {
		b.Fatal(err)
	}
	if err := fed.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := fed.Stop(context.Background()); err != nil {
			b.Error(err)
		}
		// VFLEET_BENCH_KEEP keeps them after a run that passed too, to
		// read where the time went.
		if b.Failed() || os.Getenv("VFLEET_BENCH_KEEP") != "" {
			fmt.Printf("the federation's logs are kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	names := fed.Names()
	lost, survivors := names[len(names)-1], names[:len(names)-1]
	mgmt := map[string]client.Client{}
	for _, name := range names {
		cfg, err := fed.Region(name).Management().RESTConfig()
		if err != nil {
			b.Fatal(err)
		}
		if mgmt[name], err = client.New(cfg, client.Options{Scheme: apis.Scheme()}); err != nil {
			b.Fatal(err)
		}
	}

	var vcs []*fleetv1.VirtualCluster
	begin := time.Now()
	// Made a few at a time, as a region fills up: twenty first starts at
	// once would take two cores minutes.
	for i := range regionLossVClusters(b) {
		vc := builder.MakeVirtualCluster("default", fmt.Sprintf("rl-%02d", i)).CPU("1").Memory("1Gi").Pods(10).External(lab.StoreName).Obj()
		if err := mgmt[lost].Create(ctx, vc); err != nil {
			b.Fatal(err)
		}
		vcs = append(vcs, vc)
		if len(vcs)%5 == 0 {
			for j := len(vcs) - 5; j < len(vcs); j++ {
				vcs[j] = waitEpochReady(b, mgmt[lost], vcs[j], 1)
			}
		}
	}
	fmt.Printf("%d vclusters Ready in %s in %s\n", len(vcs), lost, time.Since(begin).Round(100*time.Millisecond))

	start := time.Now()
	if err := fed.Kill(lost); err != nil {
		b.Fatal(err)
	}
	steps := make([]milestones, len(vcs))
	var wg sync.WaitGroup
	for i, vc := range vcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			steps[i] = waitElsewhere(b, mgmt, survivors, vc, start)
		}()
	}
	wg.Wait()
	step := func(of func(milestones) time.Duration) []time.Duration {
		var d []time.Duration
		for _, m := range steps {
			d = append(d, of(m))
		}
		slices.Sort(d)
		return d
	}
	rto := step(func(m milestones) time.Duration { return m.ready })
	fmt.Printf("\n== region-loss benchmark (3 regions, 2 hosts each, %d External vclusters in the lost one, PostgreSQL, default timings, %d CPUs)\n", len(vcs), numCPU())
	fmt.Printf("RTO per vcluster, SIGKILL of the region to Ready in another: p50 %s, p95 %s; the last %s\n",
		pct(rto, 50).Round(10*time.Millisecond), pct(rto, 95).Round(10*time.Millisecond), rto[len(rto)-1].Round(10*time.Millisecond))
	fmt.Printf("where it goes (time since the SIGKILL, p50 / p95 / last):\n")
	for _, st := range []struct {
		name string
		of   func(milestones) time.Duration
	}{
		{"made in a survivor (claimed)", func(m milestones) time.Duration { return m.made }},
		{"its lost epoch fenced", func(m milestones) time.Duration { return m.fenced }},
		{"placed at its next epoch", func(m milestones) time.Duration { return m.placed }},
		{"Ready", func(m milestones) time.Duration { return m.ready }},
	} {
		d := step(st.of)
		fmt.Printf("  %-30s %8s %8s %8s\n", st.name, pct(d, 50).Round(100*time.Millisecond), pct(d, 95).Round(100*time.Millisecond), d[len(d)-1].Round(100*time.Millisecond))
	}
	b.ReportMetric(pct(rto, 50).Seconds(), "rto-p50-s")
	b.ReportMetric(pct(rto, 95).Seconds(), "rto-p95-s")
	b.ReportMetric(rto[len(rto)-1].Seconds(), "rto-last-s")
}

// milestones are when, after the region's loss, a vcluster was first
// seen made in a survivor, fenced there, placed on a host of it at its
// next epoch, and Ready: where its RTO goes.
type milestones struct{ made, fenced, placed, ready time.Duration }

// waitElsewhere waits until a surviving region runs vc, Ready past its
// epoch, and returns when it passed each step since start.
func waitElsewhere(b *testing.B, mgmt map[string]client.Client, survivors []string, vc *fleetv1.VirtualCluster, start time.Time) milestones {
	var m milestones
	seen := func(at *time.Duration, now bool) {
		if now && *at == 0 {
			*at = time.Since(start)
		}
	}
	for time.Since(start) < 10*time.Minute {
		for _, region := range survivors {
			got := &fleetv1.VirtualCluster{}
			if err := mgmt[region].Get(context.Background(), client.ObjectKeyFromObject(vc), got); err != nil {
				continue
			}
			seen(&m.made, got.Annotations[fleetv1.AnnotationTakenOverFrom] != "")
			seen(&m.fenced, got.Status.FencedEpoch >= vc.Status.Epoch)
			seen(&m.placed, got.Status.Epoch > vc.Status.Epoch && got.Status.Host != "")
			if got.Status.Epoch > vc.Status.Epoch && got.Status.Phase == fleetv1.PhaseReady {
				seen(&m.ready, true)
				return m
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Errorf("vcluster %s not Ready in a surviving region 10 minutes after its region's loss", vc.Name)
	m.ready = 10 * time.Minute
	return m
}
