package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
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
// runs, as the federation issue measures.
const regionLossVClusters = 20

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
		if b.Failed() {
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
	for i := range regionLossVClusters {
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
	rto := make([]time.Duration, len(vcs))
	var wg sync.WaitGroup
	for i, vc := range vcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rto[i] = waitElsewhere(b, mgmt, survivors, vc, start)
		}()
	}
	wg.Wait()
	slices.Sort(rto)
	fmt.Printf("\n== region-loss benchmark (3 regions, 2 hosts each, %d External vclusters in the lost one, PostgreSQL, default timings, %d CPUs)\n", len(vcs), numCPU())
	fmt.Printf("RTO per vcluster, SIGKILL of the region to Ready in another: p50 %s, p95 %s; the last %s\n",
		pct(rto, 50).Round(10*time.Millisecond), pct(rto, 95).Round(10*time.Millisecond), rto[len(rto)-1].Round(10*time.Millisecond))
	b.ReportMetric(pct(rto, 50).Seconds(), "rto-p50-s")
	b.ReportMetric(pct(rto, 95).Seconds(), "rto-p95-s")
	b.ReportMetric(rto[len(rto)-1].Seconds(), "rto-last-s")
}

// waitElsewhere waits until a surviving region runs vc, Ready past its
// epoch, and returns the time since start.
func waitElsewhere(b *testing.B, mgmt map[string]client.Client, survivors []string, vc *fleetv1.VirtualCluster, start time.Time) time.Duration {
	for time.Since(start) < 10*time.Minute {
		for _, region := range survivors {
			got := &fleetv1.VirtualCluster{}
			if err := mgmt[region].Get(context.Background(), client.ObjectKeyFromObject(vc), got); err == nil &&
				got.Status.Epoch > vc.Status.Epoch && got.Status.Phase == fleetv1.PhaseReady {
				return time.Since(start)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Errorf("vcluster %s not Ready in a surviving region 10 minutes after its region's loss", vc.Name)
	return 10 * time.Minute
}
