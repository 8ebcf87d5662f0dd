package federation

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/federation/ledger"
)

// regions is a ledger with regions a and b, and the hosts given of each.
func regions(t *testing.T, a, b []string) *ledger.Local {
	t.Helper()
	l := ledger.NewLocal(ledger.New())
	for region, hosts := range map[string][]string{"a": a, "b": b} {
		c := ledger.Command{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: region, Hub: "hub-" + region, Reported: time.Now()}}
		for _, h := range hosts {
			c.Hosts = append(c.Hosts, ledger.Host{Name: h, Region: region})
		}
		if _, err := l.Propose(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func vcluster(epoch, fenced int64, host string) *fleetv1.VirtualCluster {
	return &fleetv1.VirtualCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web"},
		Spec:       fleetv1.VirtualClusterSpec{BackingStore: fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreExternal, Name: "pg"}},
		Status:     fleetv1.VirtualClusterStatus{Epoch: epoch, FencedEpoch: fenced, Host: host},
	}
}

// TestEpochs: a region's hub moves its vclusters through the ledger, which
// lets it move only from a fenced epoch, and never a vcluster another
// region took.
func TestEpochs(t *testing.T) {
	ctx := context.Background()
	rec := func(l *ledger.Local) ledger.VCluster { return l.Ledger().VClusters["team/web"] }

	t.Run("placed, fenced, placed again", func(t *testing.T) {
		l := regions(t, []string{"a1", "a2"}, nil)
		e := &Epochs{Region: "a", Proposer: l}
		vc := vcluster(0, 0, "")
		if err := e.Advance(ctx, vc, 0, "a1"); err != nil {
			t.Fatal(err)
		}
		// Proposed again: the hub did not learn that it was committed.
		if err := e.Advance(ctx, vc, 0, "a1"); err != nil {
			t.Fatalf("the same move again: %v", err)
		}
		vc.Status.Epoch, vc.Status.Host = 1, "a1"
		if err := e.Advance(ctx, vc, 1, "a2"); !errors.Is(err, ledger.ErrNotFenced) || !errors.Is(err, ledger.ErrRefused) {
			t.Fatalf("a move from an epoch not fenced: %v, want %v", err, ledger.ErrNotFenced)
		}
		if err := e.Fenced(ctx, vc, 1); err != nil {
			t.Fatal(err)
		}
		if err := e.Advance(ctx, vc, 1, "a2"); err != nil {
			t.Fatal(err)
		}
		if r := rec(l); r.Epoch != 2 || r.FencedEpoch != 1 || r.Host != "a2" || r.Region != "a" || r.Store != "pg" {
			t.Errorf("ledger has %+v", r)
		}
	})
	t.Run("a vcluster that ran before the federation, fenced then", func(t *testing.T) {
		l := regions(t, []string{"a1", "a2"}, nil)
		e := &Epochs{Region: "a", Proposer: l}
		if err := e.Advance(ctx, vcluster(3, 3, "a1"), 3, "a2"); err != nil {
			t.Fatal(err)
		}
		if r := rec(l); r.Epoch != 4 || r.FencedEpoch != 3 || r.Host != "a2" {
			t.Errorf("ledger has %+v", r)
		}
	})
	t.Run("a host the region has not reported yet", func(t *testing.T) {
		l := regions(t, []string{"a1"}, nil)
		reported := 0
		e := &Epochs{Region: "a", Proposer: l, Report: func(ctx context.Context) error {
			reported++
			_, err := l.Propose(ctx, ledger.Command{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "a", Hub: "hub-a", Reported: time.Now()},
				Hosts: []ledger.Host{{Name: "a1", Region: "a"}, {Name: "a9", Region: "a"}}})
			return err
		}}
		if err := e.Advance(ctx, vcluster(0, 0, ""), 0, "a9"); err != nil || reported != 1 {
			t.Fatalf("%v after %d reports, want done after 1", err, reported)
		}
	})
	t.Run("taken over by another region", func(t *testing.T) {
		l := regions(t, []string{"a1"}, []string{"b1"})
		a, b := &Epochs{Region: "a", Proposer: l}, &Epochs{Region: "b", Proposer: l}
		vc := vcluster(0, 0, "")
		if err := a.Advance(ctx, vc, 0, "a1"); err != nil {
			t.Fatal(err)
		}
		vc.Status.Epoch, vc.Status.Host = 1, "a1"
		if err := b.Fenced(ctx, vc, 1); !errors.Is(err, ledger.ErrElsewhere) {
			t.Fatalf("region b homed region a's vcluster: %v", err)
		}
		// Region b's survivors take it over through the ledger's own
		// commands (region loss), after which region a may not move it.
		for _, c := range []ledger.Command{{Op: ledger.OpFence, Key: "team/web", Epoch: 1}, {Op: ledger.OpBumpEpoch, Key: "team/web", From: 1, Host: "b1"}} {
			if _, err := l.Propose(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		vc.Status.FencedEpoch = 1
		if err := a.Advance(ctx, vc, 1, "a1"); !errors.Is(err, ledger.ErrElsewhere) {
			t.Fatalf("region a moved a vcluster region b took: %v", err)
		}
		if err := a.Forget(ctx, vc); err != nil || rec(l).Host != "b1" {
			t.Fatalf("region a forgot region b's vcluster: %v, %+v", err, rec(l))
		}
		if err := b.Forget(ctx, vc); err != nil || rec(l).Key != "" {
			t.Fatalf("region b's forget: %v, %+v", err, rec(l))
		}
	})
}

// TestSpill: a vcluster no host of its region has room for goes to the
// first region by name that reports, that its placement allows, that can
// use its store, and that has a ready host with its CPU and memory free.
func TestSpill(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	l := ledger.NewLocal(ledger.New())
	big := map[string]int64{"cpu": 16000, "memory": 64 << 30}
	for _, r := range []struct {
		region string
		at     time.Time
		host   ledger.Host
	}{
		{"a", now, ledger.Host{Name: "a1", Ready: true, Allocatable: big}},
		{"b", now, ledger.Host{Name: "b1", Ready: true, Allocatable: big, Committed: map[string]int64{"cpu": 15000}}},
		{"c", now, ledger.Host{Name: "c1", Ready: false, Allocatable: big}},
		{"d", now.Add(-time.Hour), ledger.Host{Name: "d1", Ready: true, Allocatable: big}},
		{"e", now, ledger.Host{Name: "e1", Ready: true, Allocatable: big}},
		{"f", now, ledger.Host{Name: "f1", Ready: true, Allocatable: big}},
	} {
		r.host.Region = r.region
		// Every region but e can use the vcluster's store.
		stores := []string{"pg"}
		if r.region == "e" {
			stores = []string{"pg-e"}
		}
		if _, err := l.Propose(ctx, ledger.Command{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: r.region, Hub: "hub-" + r.region, Reported: r.at, Stores: stores}, Hosts: []ledger.Host{r.host}}); err != nil {
			t.Fatal(err)
		}
	}
	e := &Epochs{Region: "a", Proposer: l, LiveWithin: time.Minute, Now: func() time.Time { return now }}
	vc := vcluster(0, 0, "")
	vc.UID = "uid-web"
	vc.Spec.Resources.CPU = resource.MustParse("2")
	vc.Spec.Resources.Memory = resource.MustParse("4Gi")

	vc.Spec.Placement.Regions = []string{"a", "b", "c", "d"}
	if region, err := e.Spill(ctx, vc); err != nil || region != "" {
		t.Fatalf("spilled to %q (%v): b is full, c not ready, d silent", region, err)
	}
	vc.Spec.Placement.Regions = []string{"a", "e"}
	if region, err := e.Spill(ctx, vc); err != nil || region != "" {
		t.Fatalf("spilled to %q (%v): e cannot use store pg", region, err)
	}
	vc.Spec.Placement.Regions = nil
	region, err := e.Spill(ctx, vc)
	if err != nil || region != "f" {
		t.Fatalf("spilled to %q (%v), want f, the first with room that can use store pg", region, err)
	}
	if r := l.Ledger().VClusters["team/web"]; r.Region != "f" || r.ClaimedFrom != "a" || r.UID != "uid-web" || r.Epoch != 0 {
		t.Errorf("ledger has %+v", r)
	}
	if got, ok := e.Elsewhere(vc); !ok || got != "f" {
		t.Errorf("Elsewhere = %q, %v; want f", got, ok)
	}
	// One whose state is on its host needs no store: it goes to e.
	embedded := vcluster(0, 0, "")
	embedded.Name, embedded.UID = "cache", "uid-cache"
	embedded.Spec.BackingStore = fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreEmbedded}
	embedded.Spec.Resources = vc.Spec.Resources
	if region, err := e.Spill(ctx, embedded); err != nil || region != "e" {
		t.Fatalf("the Embedded vcluster spilled to %q (%v), want e", region, err)
	}
	// Another region's vcluster of the same name is not this one.
	other := vcluster(0, 0, "")
	other.UID = "uid-other"
	if got, ok := e.Elsewhere(other); ok {
		t.Errorf("a vcluster of the same name is taken for the one region e runs: %q", got)
	}
}
