package spread

import (
	"testing"

	"github.com/vfleet/vfleet/placement/framework"
)

func TestEmptierHostScoresHigher(t *testing.T) {
	req := &framework.Request{Resources: framework.Resources{MilliCPU: 1000, Memory: 1 << 30}}
	capacity := framework.Resources{MilliCPU: 10000, Memory: 10 << 30}
	empty := (Plugin{}).Score(req, &framework.Host{Capacity: capacity}, nil)
	half := (Plugin{}).Score(req, &framework.Host{Capacity: capacity, Committed: framework.Resources{MilliCPU: 5000, Memory: 5 << 30}}, nil)
	if empty != 90 || half != 40 {
		t.Fatalf("empty %d, half %d; want 90 and 40", empty, half)
	}
}
