package gateway

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// Route is where the connections of one vcluster go.
type Route struct {
	// ServerName is the TLS server name clients ask for.
	ServerName string
	// VirtualCluster owns the name; UID is its UID.
	VirtualCluster types.NamespacedName
	UID            types.UID
	// Address is host:port of the current epoch's apiserver; empty while
	// no epoch may be reached, when connections are held.
	Address string
	// Epoch of the control plane at Address.
	Epoch int64
}

// same is whether a connection made on r may go on under next: the same
// vcluster's same epoch at the same address. Anything else cuts it, as an
// apiserver restart would, and its client connects again.
func (r Route) same(next Route) bool {
	return r.VirtualCluster == next.VirtualCluster && r.Address == next.Address && r.Epoch == next.Epoch
}

// Table holds the routes by server name. A connection waiting for a route
// waits on the channel Lookup gives it, closed at the next change.
type Table struct {
	mu      sync.Mutex
	routes  map[string]Route
	changed chan struct{}
	// cut is called, outside the lock, with each route that changed or
	// went, so that connections made on it are closed.
	cut func(old Route)
}

// NewTable returns an empty table; cut, if not nil, hears of every route
// that changes or goes.
func NewTable(cut func(old Route)) *Table {
	return &Table{routes: map[string]Route{}, changed: make(chan struct{}), cut: cut}
}

// Lookup returns the route for serverName, whether there is one, and a
// channel closed when the table next changes.
func (t *Table) Lookup(serverName string) (Route, bool, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.routes[serverName]
	return r, ok, t.changed
}

// Len is how many vclusters the table routes.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.routes)
}

// Set puts r in the table. A server name another vcluster holds is not
// taken from it: the first keeps it until it goes, and Set reports false.
func (t *Table) Set(r Route) bool {
	t.mu.Lock()
	old, had := t.routes[r.ServerName]
	if had && old.VirtualCluster != r.VirtualCluster {
		t.mu.Unlock()
		return false
	}
	if had && old == r {
		t.mu.Unlock()
		return true
	}
	t.routes[r.ServerName] = r
	t.notifyLocked()
	t.mu.Unlock()
	if had && !old.same(r) && t.cut != nil {
		t.cut(old)
	}
	return true
}

// Delete removes vc's route by serverName, if vc holds it.
func (t *Table) Delete(serverName string, vc types.NamespacedName) {
	t.mu.Lock()
	old, had := t.routes[serverName]
	if !had || old.VirtualCluster != vc {
		t.mu.Unlock()
		return
	}
	delete(t.routes, serverName)
	t.notifyLocked()
	t.mu.Unlock()
	if t.cut != nil {
		t.cut(old)
	}
}

func (t *Table) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}
