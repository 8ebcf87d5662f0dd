package selffence

import (
	"testing"
	"time"

	"github.com/vfleet/vfleet/placement/framework"
)

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		name             string
		failover, fence  time.Duration
		relevant, passes bool
	}{
		{"embedded or manual", 0, 10 * time.Second, false, true},
		{"fences sooner", 15 * time.Second, 10 * time.Second, true, true},
		{"fences at the same time", 10 * time.Second, 10 * time.Second, true, false},
		{"fences later", 8 * time.Second, 10 * time.Second, true, false},
		{"does not say", 15 * time.Second, 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &framework.Request{FailoverAfter: tc.failover}
			if got := (Plugin{}).Relevant(req); got != tc.relevant {
				t.Fatalf("Relevant = %v, want %v", got, tc.relevant)
			}
			if !tc.relevant {
				return
			}
			ok, why := Plugin{}.Filter(req, &framework.Host{Name: "h", SelfFenceAfter: tc.fence}, nil)
			if ok != tc.passes || (!ok && why == "") {
				t.Fatalf("Filter = %v %q, want %v with a reason when false", ok, why, tc.passes)
			}
		})
	}
}
