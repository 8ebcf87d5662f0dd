package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func report(region, hub string, at time.Time, hosts ...string) Command {
	c := Command{Op: OpReportRegion, Region: &Region{Name: region, Hub: hub, Reported: at}}
	for _, h := range hosts {
		c.Hosts = append(c.Hosts, Host{Name: h, Region: region, Ready: true})
	}
	return c
}

func withStores(c Command, stores ...string) Command {
	c.Region.Stores = stores
	return c
}

func steadySince(c Command, at time.Time) Command {
	c.Region.Steady = at
	return c
}

func manyStores(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("pg-%d", i)
	}
	return out
}

// federation is a ledger with two regions of two hosts each and one
// vcluster homed in region a, not yet placed.
func federation(t *testing.T) *State {
	t.Helper()
	s := New()
	for _, c := range []Command{
		report("a", "hub-a", t0, "a1", "a2"),
		report("b", "hub-b", t0, "b1", "b2"),
		{Op: OpHome, Key: "team/web", Home: "a", Store: "pg-a"},
	} {
		if _, err := s.Apply(c); err != nil {
			t.Fatalf("%s: %v", c.Op, err)
		}
	}
	return s
}

// TestApply: each command from a federation's ordinary state, what it
// leaves, and what it refuses.
func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cmds    []Command
		wantErr error
		errText string
		check   func(t *testing.T, s *State)
	}{
		{name: "the first epoch needs no fence",
			cmds: []Command{{Op: OpBumpEpoch, Key: "team/web", From: 0, Host: "a1"}},
			check: func(t *testing.T, s *State) {
				if vc := s.VClusters["team/web"]; vc.Epoch != 1 || vc.Host != "a1" || vc.Region != "a" {
					t.Errorf("got %+v", vc)
				}
			}},
		{name: "a failover to another region fences, then bumps",
			cmds: []Command{
				{Op: OpBumpEpoch, Key: "team/web", From: 0, Host: "a1"},
				{Op: OpFence, Key: "team/web", Epoch: 1},
				{Op: OpBumpEpoch, Key: "team/web", From: 1, Host: "b2"},
			},
			check: func(t *testing.T, s *State) {
				if vc := s.VClusters["team/web"]; vc.Epoch != 2 || vc.FencedEpoch != 1 || vc.Host != "b2" || vc.Region != "b" {
					t.Errorf("got %+v", vc)
				}
			}},
		{name: "no bump while the current epoch may write",
			cmds:    []Command{{Op: OpBumpEpoch, Key: "team/web", From: 0, Host: "a1"}, {Op: OpBumpEpoch, Key: "team/web", From: 1, Host: "b1"}},
			wantErr: ErrNotFenced},
		{name: "two hubs that read the same epoch: the second loses",
			cmds: []Command{
				{Op: OpBumpEpoch, Key: "team/web", From: 0, Host: "a1"},
				{Op: OpBumpEpoch, Key: "team/web", From: 0, Host: "b1"},
			},
			wantErr: ErrStaleEpoch},
		{name: "a fence above the current epoch", cmds: []Command{{Op: OpFence, Key: "team/web", Epoch: 1}}, errText: "cannot fence epoch 1"},
		{name: "a fence never goes back",
			cmds: []Command{
				{Op: OpBumpEpoch, Key: "team/web", From: 0, Host: "a1"},
				{Op: OpFence, Key: "team/web", Epoch: 1},
				{Op: OpFence, Key: "team/web", Epoch: 0},
			},
			check: func(t *testing.T, s *State) {
				if vc := s.VClusters["team/web"]; vc.FencedEpoch != 1 {
					t.Errorf("fenced epoch %d, want 1", vc.FencedEpoch)
				}
			}},
		{name: "a move proposed again once committed is done, not refused",
			cmds: []Command{
				{Op: OpBumpEpoch, Key: "team/web", From: 0, Host: "a1"},
				{Op: OpBumpEpoch, Key: "team/web", From: 0, Host: "a1"},
			},
			check: func(t *testing.T, s *State) {
				if vc := s.VClusters["team/web"]; vc.Epoch != 1 || vc.Host != "a1" {
					t.Errorf("got %+v", vc)
				}
			}},
		{name: "a vcluster that already ran is homed at its epoch, the earlier ones fenced",
			cmds: []Command{{Op: OpHome, Key: "team/db", Home: "b", Store: "pg-b", Host: "b2", Epoch: 4}},
			check: func(t *testing.T, s *State) {
				if vc := s.VClusters["team/db"]; vc.Epoch != 4 || vc.FencedEpoch != 3 || vc.Host != "b2" || vc.Region != "b" || vc.Store != "pg-b" {
					t.Errorf("got %+v", vc)
				}
			}},
		{name: "homed again, a vcluster keeps its epochs",
			cmds: []Command{
				{Op: OpBumpEpoch, Key: "team/web", From: 0, Host: "a1"},
				{Op: OpHome, Key: "team/web", Home: "a", Store: "pg-a2", Host: "a2", Epoch: 7},
			},
			check: func(t *testing.T, s *State) {
				if vc := s.VClusters["team/web"]; vc.Epoch != 1 || vc.Host != "a1" || vc.Store != "pg-a2" {
					t.Errorf("got %+v", vc)
				}
			}},
		{name: "homed by a region it no longer lives in",
			cmds: []Command{
				{Op: OpBumpEpoch, Key: "team/web", From: 0, Host: "a1"},
				{Op: OpFence, Key: "team/web", Epoch: 1},
				{Op: OpBumpEpoch, Key: "team/web", From: 1, Host: "b1"},
				{Op: OpHome, Key: "team/web", Home: "a", Store: "pg-a"},
			},
			wantErr: ErrElsewhere},
		{name: "a surviving region claims a vcluster, then fences and moves it",
			cmds: []Command{
				{Op: OpHome, Key: "team/web", Home: "a", Store: "pg-a", Spec: []byte(`{"cpu":"2"}`)},
				{Op: OpBumpEpoch, Key: "team/web", From: 0, Host: "a1"},
				{Op: OpClaim, Key: "team/web", From: 1, Home: "b"},
				{Op: OpFence, Key: "team/web", Epoch: 1},
				{Op: OpBumpEpoch, Key: "team/web", From: 1, Host: "b1"},
			},
			check: func(t *testing.T, s *State) {
				if vc := s.VClusters["team/web"]; vc.Epoch != 2 || vc.Region != "b" || vc.Host != "b1" || string(vc.Spec) != `{"cpu":"2"}` || vc.ClaimedFrom != "" {
					t.Errorf("got %+v", vc)
				}
			}},
		{name: "two regions claim at one epoch: the second loses",
			cmds: []Command{
				{Op: OpBumpEpoch, Key: "team/web", From: 0, Host: "a1"},
				{Op: OpClaim, Key: "team/web", From: 1, Home: "b"},
				{Op: OpFence, Key: "team/web", Epoch: 1},
				{Op: OpBumpEpoch, Key: "team/web", From: 1, Host: "b1"},
				{Op: OpClaim, Key: "team/web", From: 1, Home: "a"},
			},
			wantErr: ErrStaleEpoch},
		{name: "a region claims its own", cmds: []Command{{Op: OpClaim, Key: "team/web", Home: "a"}}, errText: "claims it from itself"},
		{name: "homed on a host of another region", cmds: []Command{{Op: OpHome, Key: "team/db", Home: "a", Host: "b1", Epoch: 2}},
			errText: "homed in region a, runs on host b1 of region b"},
		{name: "homed on a host at epoch 0", cmds: []Command{{Op: OpHome, Key: "team/db", Home: "a", Host: "a1"}}, errText: "epochs start at 1"},
		{name: "a host that is not in the ledger", cmds: []Command{{Op: OpBumpEpoch, Key: "team/web", Host: "c1"}}, wantErr: ErrUnknownHost, errText: `host "c1"`},
		{name: "a home in no region", cmds: []Command{{Op: OpHome, Key: "team/db", Home: "c"}}, errText: `region "c" is not in the federation`},
		{name: "a key that is no namespace/name", cmds: []Command{{Op: OpHome, Key: "team/web/x", Home: "a"}}, errText: "team/web/x"},
		{name: "an unknown operation", cmds: []Command{{Op: "Takeover", Key: "team/web"}}, errText: `unknown ledger operation "Takeover"`},
		{name: "a region reports another region's host", cmds: []Command{report("b", "hub-b", t0.Add(time.Second), "b1", "a1")}, errText: "a1, which is region a's"},
		{name: "a host of another region in its report", cmds: []Command{{Op: OpReportRegion, Region: &Region{Name: "b", Hub: "hub-b", Reported: t0}, Hosts: []Host{{Name: "x", Region: "a"}}}},
			errText: `host x of region "a"`},
		{name: "a host name that is no DNS label", cmds: []Command{report("b", "hub-b", t0.Add(time.Second), "B/1")}, errText: `host "B/1"`},
		{name: "a report drops the hosts the region no longer has",
			cmds: []Command{report("a", "hub-a", t0.Add(time.Second), "a2")},
			check: func(t *testing.T, s *State) {
				if got := s.RegionHosts("a"); len(got) != 1 || got[0] != "a2" {
					t.Errorf("region a's hosts %v, want [a2]", got)
				}
			}},
		{name: "a report carries the phase of the region's vclusters, not of another's",
			cmds: []Command{
				{Op: OpHome, Key: "team/db", Home: "b"},
				func() Command {
					c := report("a", "hub-a", t0.Add(time.Second), "a1", "a2")
					c.VClusters = []VClusterState{{Key: "team/web", Phase: "Ready", Ready: true}, {Key: "team/db", Phase: "Failed"}}
					return c
				}(),
			},
			check: func(t *testing.T, s *State) {
				if vc := s.VClusters["team/web"]; vc.Phase != "Ready" || !vc.Ready {
					t.Errorf("team/web %+v", vc)
				}
				if vc := s.VClusters["team/db"]; vc.Phase != "" {
					t.Errorf("region a reported region b's vcluster: %+v", vc)
				}
			}},
		{name: "a phase too long", cmds: []Command{func() Command {
			c := report("a", "hub-a", t0.Add(time.Second), "a1")
			c.VClusters = []VClusterState{{Key: "team/web", Phase: strings.Repeat("x", 33)}}
			return c
		}()}, errText: "at most 32"},
		{name: "a report names the stores the region can use",
			cmds: []Command{withStores(report("b", "hub-b", t0.Add(time.Second), "b1"), "pg-b", "pg-a")},
			check: func(t *testing.T, s *State) {
				if b := s.Regions["b"]; !b.Uses("pg-a") || !b.Uses("pg-b") || b.Uses("pg-c") || b.Stores[0] != "pg-a" {
					t.Errorf("region b %+v", b)
				}
				if s.Regions["a"].Uses("pg-a") {
					t.Error("region a uses a store it never reported")
				}
			}},
		{name: "a report says since when the region has been steady",
			cmds: []Command{steadySince(report("b", "hub-b", t0.Add(time.Second), "b1"), t0.Add(-time.Minute).In(time.FixedZone("x", 3600)))},
			check: func(t *testing.T, s *State) {
				if got := s.Regions["b"].Steady; !got.Equal(t0.Add(-time.Minute)) || got.Location() != time.UTC {
					t.Errorf("region b steady since %v", got)
				}
				if !s.Regions["a"].Steady.IsZero() {
					t.Errorf("region a, which never said, steady since %v", s.Regions["a"].Steady)
				}
			}},
		{name: "steady since after the report's own time", cmds: []Command{steadySince(report("b", "hub-b", t0, "b1"), t0.Add(time.Second))}, errText: "after its own time"},
		{name: "a store reported twice", cmds: []Command{withStores(report("b", "hub-b", t0.Add(time.Second), "b1"), "pg", "pg")}, errText: "store pg twice"},
		{name: "a store name no BackingStore can have", cmds: []Command{withStores(report("b", "hub-b", t0.Add(time.Second), "b1"), "PG/x")}, errText: `store "PG/x"`},
		{name: "too many stores", cmds: []Command{withStores(report("b", "hub-b", t0.Add(time.Second), "b1"), manyStores(257)...)}, errText: "257 stores: at most 256"},
		{name: "an older report applied late changes nothing",
			cmds: []Command{report("a", "hub-a", t0.Add(-time.Minute), "a9")},
			check: func(t *testing.T, s *State) {
				if got := s.RegionHosts("a"); len(got) != 2 {
					t.Errorf("region a's hosts %v, want the newer report's", got)
				}
			}},
		{name: "forgetting a vcluster, twice",
			cmds: []Command{{Op: OpForget, Key: "team/web"}, {Op: OpForget, Key: "team/web"}},
			check: func(t *testing.T, s *State) {
				if _, ok := s.VClusters["team/web"]; ok {
					t.Error("still in the ledger")
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := federation(t)
			var err error
			for _, c := range tc.cmds {
				before, _ := json.Marshal(s)
				if _, err = s.Apply(c); err != nil {
					if after, _ := json.Marshal(s); string(after) != string(before) {
						t.Errorf("%s failed (%v) and changed the ledger", c.Op, err)
					}
					break
				}
			}
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			case tc.errText != "" && (err == nil || !strings.Contains(err.Error(), tc.errText)):
				t.Fatalf("error %v, want one saying %q", err, tc.errText)
			case tc.wantErr == nil && tc.errText == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}
