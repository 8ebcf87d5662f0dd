package process

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// A control plane's start is CPU-bound: its apiserver builds its API and
// OpenAPI documents, fills a cache per resource from the store and runs
// its bootstrap, before its controller-manager and syncer do the same.
// A host that takes many vclusters at once (a lost host's, a lost
// region's, a drained host's) would share its cores among every start,
// and every vcluster would come back only when the last one does. The
// start gate lets a few start at once, in the order they asked, so the
// first are back in a fraction of that time and the last no later.

// startHold is the longest a start holds its slot. A start on a loaded
// machine takes seconds; one that takes longer is likely stuck on its
// store, and lets the next go.
const startHold = time.Minute

// startGate bounds how many control planes start at once.
type startGate struct {
	// max is how many may start at once; 0 is no bound.
	max int
	// hold is the longest a start keeps its slot: one that hangs must
	// not stop the others.
	hold time.Duration
	// notify tells the runtime's owner that name may start now.
	notify func(name string)

	mu       sync.Mutex
	starting map[string]time.Time
	waiting  []string
}

func newStartGate(max int, hold time.Duration, notify func(string)) *startGate {
	return &startGate{max: max, hold: hold, notify: notify, starting: map[string]time.Time{}}
}

// admit reports whether name may start at now, and takes a slot for it
// if so; if not, it queues name and says why.
func (g *startGate) admit(name string, now time.Time) (bool, string) {
	if g.max <= 0 {
		return true, ""
	}
	g.mu.Lock()
	wake := g.expire(now)
	ok, why := g.admitLocked(name, now)
	g.mu.Unlock()
	g.tell(wake)
	return ok, why
}

func (g *startGate) admitLocked(name string, now time.Time) (bool, string) {
	if _, ok := g.starting[name]; ok {
		// A start again (its process died): it keeps its slot.
		g.starting[name] = now
		return true, ""
	}
	i := slices.Index(g.waiting, name)
	if i < 0 {
		g.waiting = append(g.waiting, name)
		i = len(g.waiting) - 1
	}
	if free := g.max - len(g.starting); i < free {
		g.waiting = slices.Delete(g.waiting, i, i+1)
		g.starting[name] = now
		return true, ""
	}
	return false, fmt.Sprintf("waiting to start: %d control planes are starting on this host (at most %d at once), and %d asked before this one",
		len(g.starting), g.max, i)
}

// done gives back name's slot, or its place in the queue: it is ready,
// failed, stopped or gone, or no longer wants to start (asleep, removed).
func (g *startGate) done(name string) {
	if g.max <= 0 {
		return
	}
	g.mu.Lock()
	_, held := g.starting[name]
	delete(g.starting, name)
	g.waiting = slices.DeleteFunc(g.waiting, func(n string) bool { return n == name })
	var wake []string
	if held {
		wake = g.next()
	}
	g.mu.Unlock()
	g.tell(wake)
}

// expire frees the slots held past hold, and returns who may go now.
func (g *startGate) expire(now time.Time) []string {
	freed := false
	for name, since := range g.starting {
		if now.Sub(since) >= g.hold {
			delete(g.starting, name)
			freed = true
		}
	}
	if !freed {
		return nil
	}
	return g.next()
}

// next is the head of the queue that the free slots let go.
func (g *startGate) next() []string {
	free := g.max - len(g.starting)
	if free <= 0 || len(g.waiting) == 0 {
		return nil
	}
	return slices.Clone(g.waiting[:min(free, len(g.waiting))])
}

func (g *startGate) tell(names []string) {
	for _, n := range names {
		g.notify(n)
	}
}
