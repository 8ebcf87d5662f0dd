package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/gateway"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/envtest"
)

// BenchmarkGateway measures a gateway's memory per 1,000 routes (its
// watch of the VirtualClusters and its table), as the slope between 1,000
// and 3,000 vclusters, and how long a route the hub publishes takes to
// reach the table, over a real management API server.
func BenchmarkGateway(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, cfg, err := envtest.Start(envtest.CRDDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Stop() })
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: apis.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	addRoutes(ctx, b, c, 0, 1000)

	g := gateway.New(gateway.DefaultOptions(), logr.Discard(), prometheus.NewRegistry())
	before := heapInUse()
	informers, err := cache.New(cfg, gateway.CacheOptions())
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	start := time.Now()
	if err := g.Watch(ctx, informers); err != nil {
		b.Fatal(err)
	}
	listed := time.Since(start)
	at1000 := heapInUse()
	addRoutes(ctx, b, c, 1000, 3000)
	waitRoutes(b, g, 3000)
	at3000 := heapInUse()

	// A move: the hub publishes a new address; the gateway routes by it.
	var lag []time.Duration
	for i := range 20 {
		vc := &fleetv1.VirtualCluster{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: routeName(i)}, vc); err != nil {
			b.Fatal(err)
		}
		vc.Status.Epoch++
		vc.Status.Gateway.Epoch, vc.Status.Gateway.Address = vc.Status.Epoch, fmt.Sprintf("10.1.%d.%d:6443", i/250, i%250+1)
		start := time.Now()
		if err := c.Status().Update(ctx, vc); err != nil {
			b.Fatal(err)
		}
		for {
			if r, _, _ := g.Routes().Lookup(vc.Status.Gateway.ServerName); r.Epoch == vc.Status.Epoch {
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("route of %s not in the table after a minute", vc.Name)
			}
			time.Sleep(time.Millisecond)
		}
		lag = append(lag, time.Since(start))
	}

	perThousand := (float64(at3000) - float64(at1000)) / 2
	fmt.Printf("\n== gateway benchmark (envtest management API server, %d CPUs)\n", numCPU())
	fmt.Printf("first list of 1,000 routes: %s\n", listed.Round(time.Millisecond))
	fmt.Printf("heap in use: %.1f MiB at 1,000 routes (%.1f MiB for the watch and table), %.1f MiB at 3,000: %.2f MiB per 1,000 routes\n",
		mib(at1000), mib(at1000-before), mib(at3000), perThousand/(1<<20))
	// pct rounds to 10 ms, coarser than these.
	slices.Sort(lag)
	fmt.Printf("a published route reaches the table, from the hub's status write (%d moves): p50 %s, p95 %s\n", len(lag),
		lag[len(lag)/2].Round(10*time.Microsecond), lag[len(lag)*95/100].Round(10*time.Microsecond))
	b.ReportMetric(perThousand/(1<<20), "MiB/1000-routes")
	b.ReportMetric(lag[len(lag)/2].Seconds()*1000, "route-lag-p50-ms")
}

func routeName(i int) string { return fmt.Sprintf("vc-%05d", i) }

// addRoutes creates the vclusters [from, to) in default, each with the
// route a hub publishes for a running one.
func addRoutes(ctx context.Context, b *testing.B, c client.Client, from, to int) {
	b.Helper()
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				vc := builder.MakeVirtualCluster("default", routeName(i)).CPU("1").Obj()
				err := c.Create(ctx, vc)
				if err == nil {
					vc.Status.Epoch = 1
					vc.Status.Gateway = &fleetv1.GatewayRoute{ServerName: routeName(i) + ".default.vclusters.bench",
						Address: fmt.Sprintf("10.0.%d.%d:6443", i/250, i%250+1), Epoch: 1}
					err = c.Status().Update(ctx, vc)
				}
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}
		}()
	}
	for i := from; i < to; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

func waitRoutes(b *testing.B, g *gateway.Gateway, n int) {
	b.Helper()
	for deadline := time.Now().Add(2 * time.Minute); g.Routes().Len() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d routes in the table; want %d", g.Routes().Len(), n)
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
