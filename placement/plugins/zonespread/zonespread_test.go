package zonespread

import (
	"testing"

	"github.com/vfleet/vfleet/placement/framework"
)

// fleet holds 2 of group acme in z1, 1 in z2, none in z3.
type fleet struct{ framework.Fleet }

func (fleet) GroupCountInZone(group, zone string) int {
	if group != "acme" {
		return 0
	}
	return map[string]int{"z1": 2, "z2": 1}[zone]
}

func TestEmptiestZoneScores100(t *testing.T) {
	req := &framework.Request{Group: "acme"}
	zones := []string{"z1", "z2", "z3"}
	scores := make([]int64, len(zones))
	for i, z := range zones {
		scores[i] = (Plugin{}).Score(req, &framework.Host{Zone: z}, fleet{})
	}
	(Plugin{}).Normalize(scores)
	if scores[0] != 0 || scores[1] != 50 || scores[2] != 100 {
		t.Fatalf("scores %v, want [0 50 100]", scores)
	}
	if (Plugin{}).Relevant(&framework.Request{}) {
		t.Fatal("relevant without a group")
	}
}
