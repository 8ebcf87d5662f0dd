package store

import (
	"testing"

	"github.com/vfleet/vfleet/placement/framework"
)

// fleet knows two stores in eu-west, reachable from eu-central: pg, which
// is ready, and pg-down, which is not.
type fleet struct{ framework.Fleet }

func (fleet) StoreReachable(store, region string) (bool, bool) {
	if store != "pg" && store != "pg-down" {
		return false, false
	}
	return region == "eu-west" || region == "eu-central", true
}

func (fleet) StoreReady(store string) (bool, string) {
	return store == "pg", "password authentication failed for user vfleet"
}

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		name, store, region string
		ok                  bool
		reason              string
	}{
		{"own region", "pg", "eu-west", true, ""},
		{"reachable region", "pg", "eu-central", true, ""},
		{"far region", "pg", "us-east", false, "backing store unreachable from region"},
		{"unknown store", "mysql", "eu-west", false, "backing store mysql not found"},
		{"store not ready", "pg-down", "eu-west", false, "backing store pg-down not ready: password authentication failed for user vfleet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := Plugin{}.Filter(&framework.Request{Store: tc.store}, &framework.Host{Region: tc.region}, fleet{})
			if ok != tc.ok || reason != tc.reason {
				t.Fatalf("got %v %q, want %v %q", ok, reason, tc.ok, tc.reason)
			}
		})
	}
	if (Plugin{}).Relevant(&framework.Request{}) {
		t.Fatal("relevant for an Embedded vcluster")
	}
}
