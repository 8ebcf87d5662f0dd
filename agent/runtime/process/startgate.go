package process

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// A control plane's start is CPU-bound until its apiserver is ready: the
// apiserver builds its API and OpenAPI documents, fills a cache per
// resource from the store and runs its bootstrap. A host that takes many
// vclusters at once (a lost host's, a lost region's, a drained host's)
// would share its cores among every start, and every vcluster would come
// back only when the last one does. The start gate lets a few start at
// once, in the order they asked, so the first are back in a fraction of
// that time and the last no later. A slot is held until the apiserver is
// ready; its controller-manager and syncer start after, outside the gate.

// startHold is the longest a start holds its slot. A start on a loaded
// machine takes seconds; one that takes longer is likely stuck on its
// store, and lets the next go.
const startHold = time.Minute

// startPoll is how often a queued control plane asks again: it keeps its
// place, its message stays current, and a slot held past startHold is
// freed even when nothing else happens.
const startPoll = 5 * time.Second

// waiterGone is how long a queued control plane may go without asking
// before it loses its place: one that was deleted, or whose agent gave up
// on it for another reason, must not hold up the queue.
const waiterGone = 3 * startPoll

// startGate bounds how many control planes start at once.
type startGate struct {
	// max is how many may start at once; 0 is no bound.
	max int
	// notify tells the runtime's owner that name may start now. It must
	// not block: it is called under no lock, but from Ensure.
	notify func(name string)

	mu       sync.Mutex
	starting map[string]time.Time // since when each holds its slot
	waiting  []waiter             // in the order they asked
}

type waiter struct {
	name string
	seen time.Time
}

func newStartGate(max int, notify func(string)) *startGate {
	return &startGate{max: max, notify: notify, starting: map[string]time.Time{}}
}

// admit reports whether name may start at now, and takes a slot for it
// if so; if not, it keeps name's place in the queue and says why.
func (g *startGate) admit(name string, now time.Time) (bool, string) {
	if g.max <= 0 {
		return true, ""
	}
	g.mu.Lock()
	var wake []string
	if g.prune(now) {
		wake = g.next()
	}
	ok, why := g.admitLocked(name, now)
	g.mu.Unlock()
	g.tell(wake)
	return ok, why
}

func (g *startGate) admitLocked(name string, now time.Time) (bool, string) {
	if _, ok := g.starting[name]; ok {
		// Started again before it was ready (its process died, or its
		// configuration changed): the same start, the same slot.
		return true, ""
	}
	i := slices.IndexFunc(g.waiting, func(w waiter) bool { return w.name == name })
	if i < 0 {
		g.waiting = append(g.waiting, waiter{name: name})
		i = len(g.waiting) - 1
	}
	g.waiting[i].seen = now
	if free := g.max - len(g.starting); i < free {
		g.waiting = slices.Delete(g.waiting, i, i+1)
		g.starting[name] = now
		return true, ""
	}
	return false, fmt.Sprintf("waiting to start: %d control planes are starting on this host (at most %d at once), and %d asked before this one",
		len(g.starting), g.max, i)
}

// adopt counts name, found starting (by an agent before this one), as
// holding a slot, over the bound if need be: it starts either way.
func (g *startGate) adopt(name string, now time.Time) {
	if g.max <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.starting[name]; !ok {
		g.starting[name] = now
	}
}

// done gives back name's slot, or its place in the queue: it is ready,
// failed or stopped, or no longer wants to start (asleep, removed). The
// head of the queue is told whenever a slot is free, even if name held
// none: name may have been told to go, and left before it went.
func (g *startGate) done(name string) {
	if g.max <= 0 {
		return
	}
	g.mu.Lock()
	delete(g.starting, name)
	g.waiting = slices.DeleteFunc(g.waiting, func(w waiter) bool { return w.name == name })
	wake := g.next()
	g.mu.Unlock()
	g.tell(wake)
}

// prune frees the slots held past startHold and drops the waiters that
// stopped asking; it reports whether the queue may move.
func (g *startGate) prune(now time.Time) bool {
	moved := false
	for name, since := range g.starting {
		if now.Sub(since) >= startHold {
			delete(g.starting, name)
			moved = true
		}
	}
	before := len(g.waiting)
	g.waiting = slices.DeleteFunc(g.waiting, func(w waiter) bool { return now.Sub(w.seen) >= waiterGone })
	return moved || len(g.waiting) != before
}

// next is the head of the queue that the free slots let go.
func (g *startGate) next() []string {
	free := g.max - len(g.starting)
	var names []string
	for _, w := range g.waiting[:min(max(free, 0), len(g.waiting))] {
		names = append(names, w.name)
	}
	return names
}

func (g *startGate) tell(names []string) {
	for _, n := range names {
		g.notify(n)
	}
}
