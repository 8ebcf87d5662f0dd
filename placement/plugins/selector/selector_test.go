package selector

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/vfleet/vfleet/placement/framework"
)

func TestFilter(t *testing.T) {
	host := &framework.Host{Labels: labels.Set{"tier": "gold", "gpu": "true"}}
	for _, tc := range []struct {
		name     string
		selector string
		ok       bool
	}{
		{"match", "tier=gold", true},
		{"set based", "tier in (gold, silver),gpu", true},
		{"mismatch", "tier=bronze", false},
		{"absent key", "!gpu", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := labels.Parse(tc.selector)
			if err != nil {
				t.Fatal(err)
			}
			req := &framework.Request{Selector: sel}
			if !(Plugin{}).Relevant(req) {
				t.Fatal("not relevant")
			}
			ok, reason := Plugin{}.Filter(req, host, nil)
			if ok != tc.ok || (!ok && reason != "host selector mismatch") {
				t.Fatalf("got %v %q", ok, reason)
			}
		})
	}
	if (Plugin{}).Relevant(&framework.Request{Selector: labels.Everything()}) {
		t.Fatal("an empty selector should cost nothing")
	}
}
