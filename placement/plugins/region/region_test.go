package region

import (
	"testing"

	"github.com/vfleet/vfleet/placement/framework"
)

func set(s ...string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}

func TestFilter(t *testing.T) {
	host := &framework.Host{Region: "eu-west", Zone: "eu-west-1a"}
	for _, tc := range []struct {
		name     string
		req      framework.Request
		relevant bool
		ok       bool
		reason   string
	}{
		{"no constraint", framework.Request{}, false, true, ""},
		{"region allowed", framework.Request{Regions: set("us-east", "eu-west")}, true, true, ""},
		{"region not allowed", framework.Request{Regions: set("us-east")}, true, false, "region not allowed"},
		{"zone allowed", framework.Request{Zones: set("eu-west-1a")}, true, true, ""},
		{"zone not allowed", framework.Request{Regions: set("eu-west"), Zones: set("eu-west-1b")}, true, false, "zone not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (Plugin{}).Relevant(&tc.req); got != tc.relevant {
				t.Fatalf("Relevant = %v", got)
			}
			ok, reason := Plugin{}.Filter(&tc.req, host, nil)
			if ok != tc.ok || reason != tc.reason {
				t.Fatalf("got %v %q, want %v %q", ok, reason, tc.ok, tc.reason)
			}
		})
	}
}
