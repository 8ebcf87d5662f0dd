// Package liveness judges whether a host's agent is alive by the hub's own
// clock: a heartbeat counts from when the hub saw the agent's Lease change,
// never from the time the agent wrote in it. So an agent whose clock is
// skewed, or that writes a time far in the future, can neither cause nor
// block its host's failover; the node lifecycle controller judges kubelets
// the same way.
package liveness

import (
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"
)

// MaxLeaseDuration caps the Lease duration an agent declares: a longer one
// would let a silent host keep its vclusters for as long as it says.
const MaxLeaseDuration = time.Minute

// Heartbeat is what the hub knows of a host's agent.
type Heartbeat struct {
	// Joined says the agent has a Lease at all.
	Joined bool
	// Renewed is when the hub last saw the agent renew its Lease, by the
	// hub's clock; zero if the Lease was never renewed.
	Renewed time.Time
	// Duration is how long a renewal holds: the Lease's, at most
	// MaxLeaseDuration.
	Duration time.Duration
}

// Expiry is when the last renewal stops holding; zero if none holds.
func (h Heartbeat) Expiry() time.Time {
	if h.Renewed.IsZero() || h.Duration <= 0 {
		return time.Time{}
	}
	return h.Renewed.Add(h.Duration)
}

// AliveAt says whether a renewal holds at now.
func (h Heartbeat) AliveAt(now time.Time) bool {
	exp := h.Expiry()
	return !exp.IsZero() && now.Before(exp)
}

// Tracker remembers, per host, the last renewal it saw and when. It is
// shared by the hub's controllers, so they agree on when a host went
// silent. A hub that starts, or becomes leader, knows nothing yet: the
// first renewal it sees counts from then, which gives every host one full
// Lease duration before it can be judged silent.
type Tracker struct {
	mu   sync.Mutex
	seen map[string]renewal
}

// renewal is one renewal as the agent wrote it, and when the hub saw it.
type renewal struct {
	lease types.UID
	wrote time.Time
	at    time.Time
}

// NewTracker returns a tracker that has seen nothing.
func NewTracker() *Tracker { return &Tracker{seen: map[string]renewal{}} }

// Observe notes host's Lease as read at now (nil when the host has none)
// and returns the host's heartbeat. A renewal is any change of the renew
// time the agent wrote, or a new Lease: its value is never compared with
// the hub's clock.
func (t *Tracker) Observe(host string, lease *coordinationv1.Lease, now time.Time) Heartbeat {
	t.mu.Lock()
	defer t.mu.Unlock()
	if lease == nil {
		delete(t.seen, host)
		return Heartbeat{}
	}
	hb := Heartbeat{Joined: true}
	if d := lease.Spec.LeaseDurationSeconds; d != nil && *d > 0 {
		hb.Duration = min(time.Duration(*d)*time.Second, MaxLeaseDuration)
	}
	wrote := lease.Spec.RenewTime
	if wrote == nil {
		wrote = lease.Spec.AcquireTime
	}
	if wrote == nil {
		return hb
	}
	last, ok := t.seen[host]
	if !ok || last.lease != lease.UID || !last.wrote.Equal(wrote.Time) {
		last = renewal{lease: lease.UID, wrote: wrote.Time, at: now}
		t.seen[host] = last
	}
	hb.Renewed = last.at
	return hb
}

// LastSeen is when the tracker last saw host's agent renew its Lease, by
// the hub's clock; false for a host it has seen no renewal of.
func (t *Tracker) LastSeen(host string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.seen[host]
	return r.at, ok
}
