package binpack

import (
	"testing"

	"github.com/vfleet/vfleet/placement/framework"
)

func TestScore(t *testing.T) {
	req := &framework.Request{Resources: framework.Resources{MilliCPU: 1000, Memory: 1 << 30}}
	capacity := framework.Resources{MilliCPU: 10000, Memory: 10 << 30}
	for _, tc := range []struct {
		name      string
		committed framework.Resources
		want      int64
	}{
		{"empty host", framework.Resources{}, 10},
		{"half full", framework.Resources{MilliCPU: 5000, Memory: 5 << 30}, 60},
		{"cpu full, memory empty", framework.Resources{MilliCPU: 9000}, 55},
		{"becomes full", framework.Resources{MilliCPU: 9000, Memory: 9 << 30}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (Plugin{}).Score(req, &framework.Host{Capacity: capacity, Committed: tc.committed}, nil); got != tc.want {
				t.Fatalf("score %d, want %d", got, tc.want)
			}
		})
	}
}
