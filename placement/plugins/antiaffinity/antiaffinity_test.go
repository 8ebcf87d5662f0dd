package antiaffinity

import (
	"testing"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/placement/framework"
)

// fleet holds tenant=acme on host a in zone z1.
type fleet struct{ framework.Fleet }

func (fleet) LabelCountOnHost(k, v, host string) int {
	if k == "tenant" && v == "acme" && host == "a" {
		return 1
	}
	return 0
}

func (fleet) LabelCountInZone(k, v, zone string) int {
	if k == "tenant" && v == "acme" && zone == "z1" {
		return 1
	}
	return 0
}

func TestFilter(t *testing.T) {
	hostA := &framework.Host{Name: "a", Zone: "z1"}
	hostB := &framework.Host{Name: "b", Zone: "z1"}
	hostC := &framework.Host{Name: "c", Zone: "z2"}
	acme := map[string]string{"tenant": "acme"}
	for _, tc := range []struct {
		name  string
		scope fleetv1.AntiAffinityScope
		host  *framework.Host
		ok    bool
	}{
		{"host scope, same host", fleetv1.AntiAffinityHost, hostA, false},
		{"host scope, other host same zone", fleetv1.AntiAffinityHost, hostB, true},
		{"zone scope, same zone", fleetv1.AntiAffinityZone, hostB, false},
		{"zone scope, other zone", fleetv1.AntiAffinityZone, hostC, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &framework.Request{Labels: acme, AntiAffinity: &fleetv1.AntiAffinity{LabelKey: "tenant", Scope: tc.scope}}
			if !(Plugin{}).Relevant(req) {
				t.Fatal("not relevant")
			}
			if ok, reason := (Plugin{}).Filter(req, tc.host, fleet{}); ok != tc.ok {
				t.Fatalf("got %v %q", ok, reason)
			}
		})
	}
	unlabelled := &framework.Request{AntiAffinity: &fleetv1.AntiAffinity{LabelKey: "tenant"}}
	if (Plugin{}).Relevant(unlabelled) {
		t.Fatal("relevant for a vcluster without the label")
	}
}
