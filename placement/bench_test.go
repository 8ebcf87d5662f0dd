package placement

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/placement/framework"
)

// scenario is testdata/scenario.json: edit it and rerun `make bench-placement`.
type scenario struct {
	Seed           uint64 `json:"seed"`
	Hosts          int    `json:"hosts"`
	Regions        int    `json:"regions"`
	ZonesPerRegion int    `json:"zonesPerRegion"`
	Host           struct {
		CPU      int64 `json:"cpu"`
		MemoryGi int64 `json:"memoryGi"`
		Pods     int64 `json:"pods"`
	} `json:"host"`
	Existing int `json:"existingVirtualClusters"`
	Sizes    []struct {
		CPU      int64 `json:"cpu"`
		MemoryGi int64 `json:"memoryGi"`
		Pods     int64 `json:"pods"`
		Weight   int   `json:"weight"`
	} `json:"sizes"`
	Requests []struct {
		Name    string `json:"name"`
		Regions int    `json:"regions"`
	} `json:"requests"`
}

func loadScenario(b *testing.B) *scenario {
	data, err := os.ReadFile("testdata/scenario.json")
	if err != nil {
		b.Fatal(err)
	}
	s := &scenario{}
	if err := json.Unmarshal(data, s); err != nil {
		b.Fatal(err)
	}
	return s
}

func (s *scenario) size(r *rand.Rand) framework.Resources {
	total := 0
	for _, z := range s.Sizes {
		total += z.Weight
	}
	n := r.IntN(total)
	for _, z := range s.Sizes {
		if n < z.Weight {
			return framework.Resources{MilliCPU: z.CPU * 1000, Memory: z.MemoryGi << 30, Pods: z.Pods}.Add(DefaultOverhead)
		}
		n -= z.Weight
	}
	panic("unreachable")
}

// build returns the scenario's fleet with its existing vclusters reserved,
// and the heap the snapshot takes.
func (s *scenario) build(b *testing.B) (*Engine, uint64) {
	r := rand.New(rand.NewPCG(s.Seed, 0))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	e := NewEngine(DefaultProfile(), fleetv1.StrategyBinPack)
	names := make([]string, s.Hosts)
	for i := range s.Hosts {
		region := i % s.Regions
		names[i] = fmt.Sprintf("host-%05d", i)
		e.UpsertHost(&framework.Host{
			Name: names[i], Region: fmt.Sprint("region-", region), Zone: fmt.Sprintf("region-%d-%c", region, 'a'+rune(i/s.Regions%s.ZonesPerRegion)),
			Ready: true, Versions: []string{"v1.36.3"},
			Capacity: framework.Resources{MilliCPU: s.Host.CPU * 1000, Memory: s.Host.MemoryGi << 30, Pods: s.Host.Pods},
		})
	}
	for i := range s.Existing {
		size := s.size(r)
		for {
			h := names[r.IntN(len(names))]
			if host := e.hosts[h]; host.Committed.Add(size).Fits(host.Capacity) {
				e.Reserve(&framework.Request{UID: types.UID(fmt.Sprint("existing-", i)), Resources: size,
					Labels: map[string]string{"tenant": fmt.Sprint("t", i%5000)}}, h)
				break
			}
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return e, after.HeapAlloc - before.HeapAlloc
}

// BenchmarkPlacement reports decision latency (p50, p99) and placements per
// second, measured over the Schedule calls alone, and the snapshot's heap.
// Run it on one core: `make bench-placement`.
func BenchmarkPlacement(b *testing.B) {
	s := loadScenario(b)
	e, heap := s.build(b)
	b.Logf("snapshot: %s, %.1f MiB of heap", e.Stats(), float64(heap)/(1<<20))

	for _, kind := range s.Requests {
		b.Run(kind.Name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(s.Seed, 1))
			latencies := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req := &framework.Request{
					Key: fmt.Sprint("bench/", i), UID: types.UID(fmt.Sprint("bench-", i)),
					Version: "v1.36.3", Resources: s.size(r),
				}
				if kind.Regions > 0 {
					req.Regions = map[string]bool{}
					for len(req.Regions) < kind.Regions {
						req.Regions[fmt.Sprint("region-", r.IntN(s.Regions))] = true
					}
				}
				start := time.Now()
				_, err := e.Schedule(req)
				latencies = append(latencies, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				e.Release(req.UID)
			}
			b.StopTimer()
			var total time.Duration
			for _, l := range latencies {
				total += l
			}
			slices.Sort(latencies)
			b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(len(latencies))/total.Seconds(), "placements/s")
			b.ReportMetric(float64(heap)/(1<<20), "snapshot-MiB")
		})
	}
}
