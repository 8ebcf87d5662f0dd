package health

import (
	"testing"

	"github.com/vfleet/vfleet/placement/framework"
)

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		host   framework.Host
		ok     bool
		reason string
	}{
		{"ready", framework.Host{Ready: true}, true, ""},
		{"silent agent", framework.Host{}, false, "unreachable"},
		{"cordoned", framework.Host{Ready: true, Unschedulable: true}, false, "cordoned"},
		{"silent and cordoned says unreachable", framework.Host{Unschedulable: true}, false, "unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := Plugin{}.Filter(&framework.Request{}, &tc.host, nil)
			if ok != tc.ok || reason != tc.reason {
				t.Fatalf("got %v %q, want %v %q", ok, reason, tc.ok, tc.reason)
			}
		})
	}
}
