package federation

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vfleet/vfleet/federation/ledger"
	"github.com/vfleet/vfleet/internal/pki"
)

// fast is raft's timing in tests: elections in a fraction of a second.
var fast = Timing{Heartbeat: 100 * time.Millisecond, Election: 100 * time.Millisecond, LeaderLease: 50 * time.Millisecond}

// logBuffer collects a peer's raft log for a test to read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// peerTLS is a hub's TLS configuration: a certificate of ca for 127.0.0.1,
// and trust in trusted.
func peerTLS(t testing.TB, ca, trusted *pki.CA, id string) *tls.Config {
	t.Helper()
	kp, err := ca.Issue(pki.Request{CommonName: id, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.ServerAuth | pki.ClientAuth})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pki.Pool(trusted.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool}
}

type testPeer struct {
	*Peer
	cfg Config
	log *logBuffer
}

func openPeer(t testing.TB, cfg Config) *testPeer {
	t.Helper()
	lb := &logBuffer{}
	cfg.Log, cfg.Timing = lb, fast
	p, err := Open(cfg)
	if err != nil {
		t.Fatalf("open %s: %v", cfg.ID, err)
	}
	// The address it got, so that a restart listens there again.
	cfg.Bind = string(p.transport.LocalAddr())
	return &testPeer{Peer: p, cfg: cfg, log: lb}
}

func newCA(t testing.TB, name string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func leaderOf(t testing.TB, peers ...*testPeer) *testPeer {
	t.Helper()
	var leader *testPeer
	eventually(t, "a leader", func() error {
		for _, p := range peers {
			if p.IsLeader() {
				leader = p
				return nil
			}
		}
		return errors.New("none of the peers leads")
	})
	return leader
}

// threeHubs is a federation of three peers: hub-a bootstraps and leads,
// hub-b and hub-c join. The caller closes them.
func threeHubs(t testing.TB) (a, b, c *testPeer) {
	t.Helper()
	ca := newCA(t, "federation")
	dir := t.TempDir()
	open := func(id string) *testPeer {
		return openPeer(t, Config{ID: id, Dir: filepath.Join(dir, id), Bind: "127.0.0.1:0", TLS: peerTLS(t, ca, ca, id)})
	}
	a, b, c = open("hub-a"), open("hub-b"), open("hub-c")
	if err := a.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	leaderOf(t, a)
	members := []*testPeer{a}
	for _, p := range []*testPeer{b, c} {
		// Asked of whichever member leads: with the tests' fast timings
		// a loaded machine may move the leadership for a moment.
		eventually(t, "join "+p.id, func() error {
			return leaderOf(t, members...).Join(p.id, string(p.transport.LocalAddr()), 5*time.Second)
		})
		members = append(members, p)
	}
	return a, b, c
}

// TestFederation: one hub bootstraps, two join; a command applied on the
// leader reaches every ledger; a follower refuses to apply and names the
// leader; a removed hub leaves the configuration; and the group, stopped
// and started again over its directories, holds its ledger.
func TestFederation(t *testing.T) {
	a, b, c := threeHubs(t)
	if err := a.Join(b.id, string(b.transport.LocalAddr()), 5*time.Second); err != nil {
		t.Errorf("joining a member again at its own address: %v", err)
	}

	cmds := []ledger.Command{
		{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "region-a", Hub: "hub-a", Reported: time.Now()}, Hosts: []ledger.Host{{Name: "host-1", Region: "region-a", Ready: true}}},
		{Op: ledger.OpHome, Key: "team/web", Home: "region-a", Store: "pg"},
		{Op: ledger.OpBumpEpoch, Key: "team/web", Host: "host-1"},
	}
	for _, cmd := range cmds {
		if _, err := a.Apply(cmd, 5*time.Second); err != nil {
			t.Fatalf("%s: %v", cmd.Op, err)
		}
	}
	if _, err := a.Apply(ledger.Command{Op: ledger.OpBumpEpoch, Key: "team/web", From: 0, Host: "host-2"}, 5*time.Second); !errors.Is(err, ledger.ErrStaleEpoch) {
		t.Errorf("a second bump from epoch 0: %v, want %v", err, ledger.ErrStaleEpoch)
	}
	for _, p := range []*testPeer{b, c} {
		eventually(t, p.id+"'s ledger", func() error {
			if vc := p.Ledger().VClusters["team/web"]; vc.Epoch != 1 || vc.Host != "host-1" {
				return errors.New("not applied yet")
			}
			return nil
		})
	}
	eventually(t, "hub-b knows its leader", func() error {
		if _, id := b.raft.LeaderWithID(); id != "hub-a" {
			return errors.New("not yet")
		}
		return nil
	})
	if _, err := b.Apply(cmds[1], time.Second); !errors.Is(err, ErrNotLeader) || !strings.Contains(err.Error(), "follows hub-a") {
		t.Errorf("apply on a follower: %v, want one naming the leader", err)
	}
	st, err := b.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader.ID != "hub-a" || len(st.Members) != 3 || st.AppliedIndex == 0 {
		t.Errorf("status %+v", st)
	}

	if err := a.Remove("hub-c", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Status(); len(st.Members) != 2 {
		t.Errorf("members after removing hub-c: %+v", st.Members)
	}
	// hub-a restarts from a snapshot of the ledger, hub-b replays its log.
	// A barrier applies the removal's configuration entry, which a
	// snapshot must cover.
	if err := a.raft.Barrier(5 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if err := a.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	closePeers(t, a, b, c)

	// Started again over their directories, a and b elect a leader and
	// hold the ledger; no bootstrap needed, and one refused.
	a2, b2 := openPeer(t, a.cfg), openPeer(t, b.cfg)
	t.Cleanup(func() { closePeers(t, a2, b2) })
	if err := a2.Bootstrap(); !errors.Is(err, ErrExistingState) {
		t.Errorf("bootstrap over a used directory: %v, want %v", err, ErrExistingState)
	}
	leaderOf(t, a2, b2)
	for _, p := range []*testPeer{a2, b2} {
		eventually(t, p.id+"'s ledger after a restart", func() error {
			if vc := p.Ledger().VClusters["team/web"]; vc.Epoch != 1 {
				return errors.New("not restored yet")
			}
			return nil
		})
	}
}

// TestJoinRefusals: a second hub under a member's ID, or at a member's
// address, is refused with a message that says what to change; a peer
// whose certificate the federation's CA did not sign never gets in, and
// the leader's log says why.
func TestJoinRefusals(t *testing.T) {
	ca := newCA(t, "federation")
	dir := t.TempDir()
	a := openPeer(t, Config{ID: "hub-a", Dir: filepath.Join(dir, "a"), Bind: "127.0.0.1:0", TLS: peerTLS(t, ca, ca, "hub-a")})
	t.Cleanup(func() { closePeers(t, a) })
	if err := a.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	leaderOf(t, a)
	if err := a.Join("hub-a", "127.0.0.1:1", time.Second); err == nil || !strings.Contains(err.Error(), "hub ID hub-a is already a member") {
		t.Errorf("a duplicate ID: %v", err)
	}
	if err := a.Join("hub-x", string(a.transport.LocalAddr()), time.Second); err == nil || !strings.Contains(err.Error(), "already member hub-a's") {
		t.Errorf("a duplicate address: %v", err)
	}

	// A hub with a certificate of another CA, though it trusts ours.
	rogue := openPeer(t, Config{ID: "hub-r", Dir: filepath.Join(dir, "r"), Bind: "127.0.0.1:0", TLS: peerTLS(t, newCA(t, "other"), ca, "hub-r")})
	t.Cleanup(func() { closePeers(t, rogue) })
	err := a.Join("hub-r", string(rogue.transport.LocalAddr()), time.Second)
	if err == nil || !strings.Contains(err.Error(), "not signed by the federation's CA") {
		t.Errorf("joining a peer of another CA: %v", err)
	}
	if st, _ := a.Status(); len(st.Members) != 1 {
		t.Errorf("members after the refusal: %+v", st.Members)
	}
	// And when it dials in, the leader refuses it and says why.
	// (With TLS 1.3 the dialer learns of it on its first read.)
	if conn, err := rogue.stream.Dial(a.transport.LocalAddr(), time.Second); err == nil {
		_ = conn.Close()
	}
	eventually(t, "the refusal in the leader's log", func() error {
		if !strings.Contains(a.log.String(), "no certificate signed by the federation's CA") {
			return fmt.Errorf("not logged in:\n%s", a.log.String())
		}
		return nil
	})
	// A hub whose certificate does not name its address.
	wrongName := openPeer(t, Config{ID: "hub-w", Dir: filepath.Join(dir, "w"), Bind: "127.0.0.2:0", TLS: peerTLS(t, ca, ca, "hub-w")})
	t.Cleanup(func() { closePeers(t, wrongName) })
	if err := a.Join("hub-w", string(wrongName.transport.LocalAddr()), time.Second); err == nil || !strings.Contains(err.Error(), "does not name the address") {
		t.Errorf("joining a peer whose certificate names another address: %v", err)
	}
}

// TestOpenRefusals: what Open says about a configuration it cannot use.
func TestOpenRefusals(t *testing.T) {
	ca := newCA(t, "federation")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"an ID that is no DNS label", Config{ID: "Hub A", Bind: "127.0.0.1:0", TLS: peerTLS(t, ca, ca, "x")}, `peer ID "Hub A"`},
		{"no TLS", Config{ID: "hub-a", Bind: "127.0.0.1:0"}, "only mutual TLS"},
		{"a wildcard to advertise", Config{ID: "hub-a", Bind: "0.0.0.0:0", TLS: peerTLS(t, ca, ca, "x")}, "advertise an IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Dir = t.TempDir()
			p, err := Open(tc.cfg)
			if err == nil {
				closePeers(t, &testPeer{Peer: p})
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want one saying %q", err, tc.want)
			}
		})
	}
}

func closePeers(t testing.TB, peers ...*testPeer) {
	t.Helper()
	for _, p := range peers {
		if err := p.Close(); err != nil {
			t.Errorf("close %s: %v", p.id, err)
		}
	}
}

// TestQuorumLoss: a hub whose peers are gone says it has no quorum and
// commits nothing; once one is back, a majority of the group is again and
// so is the quorum.
func TestQuorumLoss(t *testing.T) {
	a, b, c := threeHubs(t)
	for _, p := range []*testPeer{a, b, c} {
		eventually(t, p.id+" has a quorum", func() error {
			if !p.HasQuorum() {
				return errors.New("not yet")
			}
			return nil
		})
	}
	closePeers(t, b, c)
	eventually(t, "hub-a sees it has no quorum", func() error {
		if st, _ := a.Status(); st.Quorum {
			return errors.New("still says it has one")
		}
		return nil
	})
	report := ledger.Command{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "region-a", Hub: "hub-a", Reported: time.Now()}}
	if _, err := a.Propose(context.Background(), report); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("a hub without a quorum proposed a command: %v, want %v", err, ErrNoQuorum)
	}

	b2 := openPeer(t, b.cfg)
	t.Cleanup(func() { closePeers(t, a, b2) })
	eventually(t, "the quorum back", func() error {
		if !a.HasQuorum() || !b2.HasQuorum() {
			return errors.New("not yet")
		}
		_, err := a.Propose(context.Background(), report)
		return err
	})
}
