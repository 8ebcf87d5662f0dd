package federation

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vfleet/vfleet/federation/ledger"
)

// TestAPI: the API an operator and the hubs use, on the raft port. A
// follower passes joins and commands on to the leader; the ledger's
// refusals come back as the errors they are; a client whose certificate
// the federation's CA did not sign gets nothing.
func TestAPI(t *testing.T) {
	ca := newCA(t, "federation")
	dir := t.TempDir()
	open := func(id string) *testPeer {
		return openPeer(t, Config{ID: id, Dir: filepath.Join(dir, id), Bind: "127.0.0.1:0", TLS: peerTLS(t, ca, ca, id)})
	}
	a, b, c := open("hub-a"), open("hub-b"), open("hub-c")
	t.Cleanup(func() { closePeers(t, a, b, c) })
	if err := a.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	leaderOf(t, a)
	ctx := context.Background()
	operator := NewClient(peerTLS(t, ca, ca, "operator"))
	addr := func(p *testPeer) string { return string(p.transport.LocalAddr()) }

	if err := operator.Join(ctx, addr(a), "hub-b", addr(b)); err != nil {
		t.Fatalf("join hub-b through the leader: %v", err)
	}
	eventually(t, "hub-b knows the leader", func() error {
		if _, id := b.raft.LeaderWithID(); id != "hub-a" {
			return errors.New("not yet")
		}
		return nil
	})
	// The group's timings are the tests' fast ones: under a loaded
	// machine its leadership may move for a moment, and a join (which is
	// idempotent) is asked again.
	eventually(t, "join hub-c through a follower", func() error {
		return operator.Join(ctx, addr(b), "hub-c", addr(c))
	})
	st, err := operator.Status(ctx, addr(c))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 3 || st.Leader.ID != "hub-a" {
		eventually(t, "hub-c's status", func() error {
			st, err = operator.Status(ctx, addr(c))
			if err == nil && (len(st.Members) != 3 || st.Leader.ID != "hub-a") {
				err = errors.New("not caught up")
			}
			return err
		})
	}

	committed, refused := ApplySeconds.WithLabelValues("BumpEpoch", "Committed"), ApplySeconds.WithLabelValues("BumpEpoch", "Refused")
	before := [2]uint64{sampleCount(t, committed), sampleCount(t, refused)}
	// A hub proposes through whichever peer it has.
	for _, cmd := range []ledger.Command{
		{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "region-b", Hub: "hub-b", Reported: time.Now()}, Hosts: []ledger.Host{{Name: "host-b1", Region: "region-b"}}},
		{Op: ledger.OpHome, Key: "team/web", Home: "region-b"},
		{Op: ledger.OpBumpEpoch, Key: "team/web", Host: "host-b1"},
	} {
		if _, err := b.Propose(ctx, cmd); err != nil {
			t.Fatalf("%s through a follower: %v", cmd.Op, err)
		}
	}
	if _, err := c.Propose(ctx, ledger.Command{Op: ledger.OpBumpEpoch, Key: "team/web", From: 1, Host: "host-b1"}); !errors.Is(err, ledger.ErrNotFenced) {
		t.Errorf("a bump before the fence, through a follower: %v, want %v", err, ledger.ErrNotFenced)
	}
	// Each proposal is timed, by its op and result.
	if got := [2]uint64{sampleCount(t, committed), sampleCount(t, refused)}; got != [2]uint64{before[0] + 1, before[1] + 1} {
		t.Errorf("bumps timed (committed, refused) %v, want %v", got, [2]uint64{before[0] + 1, before[1] + 1})
	}
	if _, err := operator.Apply(ctx, addr(c), ledger.Command{Op: ledger.OpBumpEpoch, Key: "team/web", From: 0, Host: "host-b2"}); !errors.Is(err, ledger.ErrStaleEpoch) || !errors.Is(err, ledger.ErrRefused) {
		t.Errorf("a stale bump: %v, want %v, a refusal", err, ledger.ErrStaleEpoch)
	}
	if _, err := operator.Apply(ctx, addr(c), ledger.Command{Op: ledger.OpFence, Key: "team/web", Epoch: 9}); !errors.Is(err, ledger.ErrRefused) {
		t.Errorf("a fence of an epoch to come: %v, want a refusal", err)
	}
	// The move made again, by a hub that did not learn it was made.
	if epoch, err := b.Propose(ctx, ledger.Command{Op: ledger.OpBumpEpoch, Key: "team/web", From: 0, Host: "host-b1"}); err != nil || epoch != 1 {
		t.Errorf("the bump proposed again: epoch %d, %v; want 1, done", epoch, err)
	}
	if _, err := operator.Apply(ctx, addr(a), ledger.Command{Op: "Takeover"}); err == nil || !strings.Contains(err.Error(), "unknown ledger operation") {
		t.Errorf("an unknown operation: %v", err)
	}
	l, err := operator.Ledger(ctx, addr(a))
	if err != nil || l.VClusters["team/web"].Epoch != 1 {
		t.Errorf("the leader's ledger: %+v, %v", l, err)
	}

	if err := operator.Remove(ctx, addr(b), "hub-c"); err != nil {
		t.Fatalf("remove through a follower: %v", err)
	}
	if st, _ := a.Status(); len(st.Members) != 2 {
		t.Errorf("members after removing hub-c: %+v", st.Members)
	}

	stranger := NewClient(peerTLS(t, newCA(t, "other"), ca, "stranger"))
	if _, err := stranger.Status(ctx, addr(a)); err == nil {
		t.Error("a client of another CA read the status")
	}
}

// sampleCount is how many observations the histogram o holds.
func sampleCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}
