package capacity

import (
	"testing"

	"github.com/vfleet/vfleet/placement/framework"
)

const gi = 1 << 30

func TestFilter(t *testing.T) {
	host := &framework.Host{
		Capacity:  framework.Resources{MilliCPU: 16000, Memory: 64 * gi, Pods: 220},
		Committed: framework.Resources{MilliCPU: 12000, Memory: 60 * gi, Pods: 200},
	}
	for _, tc := range []struct {
		name   string
		req    framework.Resources
		ok     bool
		reason string
	}{
		{"fits", framework.Resources{MilliCPU: 2000, Memory: 2 * gi, Pods: 10}, true, ""},
		{"exactly full", framework.Resources{MilliCPU: 4000, Memory: 4 * gi, Pods: 20}, true, ""},
		{"one milli too many", framework.Resources{MilliCPU: 4001, Memory: gi, Pods: 1}, false, "insufficient cpu"},
		{"memory", framework.Resources{MilliCPU: 1000, Memory: 5 * gi, Pods: 1}, false, "insufficient memory"},
		{"pods", framework.Resources{MilliCPU: 1000, Memory: gi, Pods: 21}, false, "insufficient pods"},
		{"cpu reported first", framework.Resources{MilliCPU: 9000, Memory: 9 * gi, Pods: 99}, false, "insufficient cpu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := Plugin{}.Filter(&framework.Request{Resources: tc.req}, host, nil)
			if ok != tc.ok || reason != tc.reason {
				t.Fatalf("got %v %q, want %v %q", ok, reason, tc.ok, tc.reason)
			}
		})
	}
}
