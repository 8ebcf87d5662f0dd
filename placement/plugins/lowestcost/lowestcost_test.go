package lowestcost

import (
	"testing"

	"github.com/vfleet/vfleet/internal/cost"
	"github.com/vfleet/vfleet/placement/framework"
)

func TestCheapestHostScores100(t *testing.T) {
	req := &framework.Request{Resources: framework.Resources{MilliCPU: 2000, Memory: 4 << 30}}
	hosts := []framework.Host{
		{Name: "cheap", HasPrices: true, Prices: cost.Prices{CPUHour: 0.02, MemoryGiBHour: 0.002}}, // 0.048
		{Name: "dear", HasPrices: true, Prices: cost.Prices{CPUHour: 0.05, MemoryGiBHour: 0.005}},  // 0.12
		{Name: "mid", HasPrices: true, Prices: cost.Prices{CPUHour: 0.03, MemoryGiBHour: 0.003}},   // 0.072
		{Name: "unpriced"},
	}
	scores := make([]int64, len(hosts))
	for i := range hosts {
		scores[i] = (Plugin{}).Score(req, &hosts[i], nil)
	}
	(Plugin{}).Normalize(scores)
	want := []int64{100, 0, 66, 0}
	for i := range want {
		if scores[i] != want[i] {
			t.Fatalf("normalized %v, want %v", scores, want)
		}
	}
}

func TestEqualPricesAllScore100(t *testing.T) {
	scores := []int64{-5, -5}
	(Plugin{}).Normalize(scores)
	if scores[0] != 100 || scores[1] != 100 {
		t.Fatalf("%v", scores)
	}
}
