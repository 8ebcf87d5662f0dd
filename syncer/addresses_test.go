package syncer_test

import (
	"testing"

	"github.com/vfleet/vfleet/syncer"
)

func TestAddressAllowed(t *testing.T) {
	own := map[string]bool{"10.244.0.7": true, "fd00::7": true}
	cidrs := []string{"192.0.2.0/24", "2001:db8::/32"}
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"10.244.0.7", true},        // the vcluster's own pod
		{"::ffff:10.244.0.7", true}, // the same, IPv4 in IPv6
		{"fd00::7", true},           // an IPv6 pod
		{"192.0.2.10", true},        // in a range the class allows
		{"2001:db8::1", true},       // in an IPv6 range it allows
		{"10.96.0.1", false},        // the host's API service
		{"10.244.0.8", false},       // another tenant's pod
		{"169.254.169.254", false},  // the cloud's metadata service
		{"db.example.com", false},   // a name: no range says where it leads
		{"", false},                 // nothing
		{"192.0.2.10/32", false},    // a range is not an address
	} {
		if got := syncer.AddressAllowed(tc.addr, own, cidrs); got != tc.want {
			t.Errorf("AddressAllowed(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if syncer.AddressAllowed("192.0.2.10", own, nil) {
		t.Error("an address outside the vcluster's pods passed without a range")
	}
}
