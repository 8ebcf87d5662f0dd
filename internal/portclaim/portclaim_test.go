package portclaim

import "testing"

func TestClaimPortsIsExclusive(t *testing.T) {
	a, err := Take(0, 40)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	b, err := Take(0, 40)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if len(a.Ports) != 40 || len(b.Ports) != 40 {
		t.Fatalf("got %d and %d ports, want 40", len(a.Ports), len(b.Ports))
	}
	held := map[int]bool{}
	for _, p := range a.Ports {
		if p < portRangeStart || p >= ephemeralStart() {
			t.Fatalf("port %d outside [%d, %d)", p, portRangeStart, ephemeralStart())
		}
		held[p] = true
	}
	for _, p := range b.Ports {
		if held[p] {
			t.Fatalf("port %d given to two labs", p)
		}
	}
	ports, _ := Take(20000, 3)
	if ports.Ports[0] != 20000 || ports.Ports[2] != 20002 {
		t.Fatalf("from base: %v", ports.Ports)
	}
}
