package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"github.com/vfleet/vfleet/federation/ledger"
)

// ErrNoQuorum is returned by Propose while the peer cannot reach a quorum
// of the group.
var ErrNoQuorum = errors.New("the federation has no quorum this hub can reach: nothing commits until it has")

// ErrNotLeader is returned by what only the leader does (apply, join,
// remove) on a follower; the error names the leader.
var ErrNotLeader = errors.New("not the federation's leader")

// Member is one peer of the group, as its configuration has it.
type Member struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
}

// Status is what `vfleet federation status` shows of a peer.
type Status struct {
	ID           string   `json:"id"`
	State        string   `json:"state"`
	Leader       Member   `json:"leader"`
	Members      []Member `json:"members"`
	Term         uint64   `json:"term"`
	AppliedIndex uint64   `json:"appliedIndex"`
	LastIndex    uint64   `json:"lastIndex"`
	// Quorum says whether the peer can commit through the group now: it
	// leads (a leader that loses its quorum steps down), or it heard from
	// a leader within two heartbeat timeouts.
	Quorum bool `json:"quorum"`
}

// Status reports the peer's view of the group.
func (p *Peer) Status() (Status, error) {
	st := Status{ID: p.id, State: p.raft.State().String(), AppliedIndex: p.raft.AppliedIndex(), LastIndex: p.raft.LastIndex()}
	leaderAddr, leaderID := p.raft.LeaderWithID()
	st.Leader = Member{ID: string(leaderID), Address: string(leaderAddr), Voter: leaderID != ""}
	st.Term = p.raft.CurrentTerm()
	st.Quorum = p.HasQuorum()
	members, err := p.members()
	st.Members = members
	return st, err
}

func (p *Peer) members() ([]Member, error) {
	f := p.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	slices.SortFunc(out, func(a, b Member) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, nil
}

// notLeader says who leads, for a caller to go there instead.
func (p *Peer) notLeader() error {
	addr, id := p.raft.LeaderWithID()
	if id == "" {
		return fmt.Errorf("%w: hub %s knows no leader now (the group may have lost its quorum)", ErrNotLeader, p.id)
	}
	return fmt.Errorf("%w: hub %s follows %s at %s", ErrNotLeader, p.id, id, addr)
}

// Apply proposes c and waits until the group committed and this leader
// applied it; it returns the vcluster's epoch after it. A command the
// ledger refuses returns the ledger's error, and changed nothing anywhere.
func (p *Peer) Apply(c ledger.Command, timeout time.Duration) (int64, error) {
	if p.raft.State() != raft.Leader {
		return 0, p.notLeader()
	}
	data, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	f := p.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return 0, fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		return 0, err
	}
	r := f.Response().(applied)
	return r.epoch, r.err
}

// Ledger returns a copy of the ledger as this peer has applied it. On a
// follower it may be behind the leader's; Status says by how much.
func (p *Peer) Ledger() *ledger.State { return p.fsm.read() }

// Join adds the hub id at address as a voter. It is idempotent for a
// member already at that address, and refuses an ID or an address that
// another member holds: raft would quietly move that member instead.
func (p *Peer) Join(id, address string, timeout time.Duration) error {
	if p.raft.State() != raft.Leader {
		return p.notLeader()
	}
	members, err := p.members()
	if err != nil {
		return err
	}
	for _, m := range members {
		switch {
		case m.ID == id && m.Address == address:
			return nil
		case m.ID == id:
			return fmt.Errorf("hub ID %s is already a member of the federation, at %s: remove it first, or give the new hub another ID", id, m.Address)
		case m.Address == address:
			return fmt.Errorf("address %s is already member %s's: remove it first, or advertise the new hub at another address", address, m.ID)
		}
	}
	// A voter the leader cannot reach would count toward every quorum
	// from the moment it is added: a group of one that added it could
	// commit nothing more. So it is dialed first, certificate and all.
	conn, err := p.stream.Dial(raft.ServerAddress(address), timeout)
	if err != nil {
		return fmt.Errorf("hub %s cannot be added: %w", id, err)
	}
	_ = conn.Close() // a probe only
	return p.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(address), 0, timeout).Error()
}

// Remove takes the hub id out of the group; removing one that is not a
// member does nothing.
func (p *Peer) Remove(id string, timeout time.Duration) error {
	if p.raft.State() != raft.Leader {
		return p.notLeader()
	}
	return p.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error()
}

// HasQuorum reports whether the peer can commit through the group now;
// see Status.Quorum.
func (p *Peer) HasQuorum() bool {
	if p.raft.State() == raft.Leader {
		return true
	}
	if _, id := p.raft.LeaderWithID(); id == "" {
		return false
	}
	return time.Since(p.raft.LastContact()) < 2*p.heartbeat
}

// IsLeader reports whether this peer leads the group now.
func (p *Peer) IsLeader() bool { return p.raft.State() == raft.Leader }

// Propose applies c through the group's leader, wherever it is: here if
// this peer leads, through the leader's API if not. It is what a hub
// calls; the errors are Apply's, across the wire too.
func (p *Peer) Propose(ctx context.Context, c ledger.Command) (epoch int64, err error) {
	start := time.Now()
	defer func() { observeApply(c.Op, start, err) }()
	// Without a quorum nothing commits: say so at once, rather than hold
	// the hub's reconcile for raft's timeout.
	if !p.HasQuorum() {
		return 0, fmt.Errorf("%w: hub %s", ErrNoQuorum, p.id)
	}
	if p.IsLeader() {
		return p.Apply(c, opTimeout)
	}
	addr, id := p.raft.LeaderWithID()
	if id == "" {
		return 0, p.notLeader()
	}
	return p.client.Apply(ctx, string(addr), c)
}
