package takeover

import (
	"testing"
	"time"

	"github.com/vfleet/vfleet/federation/ledger"
)

// TestSilent: a region is silent once it has not reported for the loss
// time counted from when this region's reports began to commit again, and
// only while this region's own reports commit.
func TestSilent(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	const after = time.Minute
	state := func(own, other ledger.Region) *ledger.State {
		st := ledger.New()
		own.Name, other.Name = "r-a", "r-c"
		st.Regions[own.Name], st.Regions[other.Name] = own, other
		return st
	}
	for _, tc := range []struct {
		name     string
		own, c   ledger.Region
		at       time.Time
		wantLost bool
	}{
		{name: "silent for the loss time while this region reported all along",
			own: ledger.Region{Reported: t0.Add(2 * time.Minute)}, c: ledger.Region{Reported: t0}, at: t0.Add(2 * time.Minute), wantLost: true},
		{name: "not yet silent for the loss time",
			own: ledger.Region{Reported: t0.Add(59 * time.Second)}, c: ledger.Region{Reported: t0}, at: t0.Add(59 * time.Second)},
		{name: "the federation heard no one for two minutes: silence counts from when it heard this region again",
			own: ledger.Region{Reported: t0.Add(2 * time.Minute), Steady: t0.Add(2 * time.Minute)}, c: ledger.Region{Reported: t0}, at: t0.Add(2 * time.Minute)},
		{name: "a loss time after the federation heard this region again",
			own: ledger.Region{Reported: t0.Add(3 * time.Minute), Steady: t0.Add(2 * time.Minute)}, c: ledger.Region{Reported: t0}, at: t0.Add(3 * time.Minute), wantLost: true},
		{name: "a steady run that began before the other's last report changes nothing",
			own: ledger.Region{Reported: t0.Add(2 * time.Minute), Steady: t0.Add(-time.Hour)}, c: ledger.Region{Reported: t0}, at: t0.Add(2 * time.Minute), wantLost: true},
		{name: "this region's own last report is half the loss time old: its ledger may be behind",
			own: ledger.Region{Reported: t0.Add(90 * time.Second)}, c: ledger.Region{Reported: t0}, at: t0.Add(2 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := silent(state(tc.own, tc.c), "r-a", "r-c", tc.at, after); got != tc.wantLost {
				t.Errorf("silent = %v, want %v", got, tc.wantLost)
			}
		})
	}
	t.Run("a region this one never heard report", func(t *testing.T) {
		st := ledger.New()
		if silent(st, "r-a", "r-c", t0, after) {
			t.Error("a region that has not reported itself takes another for lost")
		}
	})
}
