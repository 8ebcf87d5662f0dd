package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Region is one regional hub's part of the federation.
type Region struct {
	Name string `json:"name"`
	// Hub is the raft server ID of the region's hub.
	Hub string `json:"hub"`
	// Reported is when the region's hub last reported its hosts, by the
	// clock of the hub that proposed the report.
	Reported time.Time `json:"reported"`
	// Steady is since when, by the same clock, the hub's reports have
	// committed without a gap of half the region-loss time: another
	// region's silence counts only from then, so that a federation that
	// lost its leader for a while, and so heard no region, does not take
	// the regions that have not reported yet since for lost. Zero: since
	// before anything the ledger knows.
	Steady time.Time `json:"steady,omitzero"`
	// Stores names the BackingStores the region can run vclusters on:
	// its hub can provision on them and its hosts reach them. A
	// vcluster of another region spills or fails over only to a region
	// that names its store.
	Stores []string `json:"stores,omitempty"`
}

// Uses reports whether the region can run a vcluster kept on store.
func (r Region) Uses(store string) bool { return slices.Contains(r.Stores, store) }

// Host is a host cluster as its region's hub last reported it.
type Host struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	Ready  bool   `json:"ready"`
	// Allocatable and Committed are in the units HostCluster's status
	// uses: millicores for cpu, bytes for memory, a count for pods.
	Allocatable map[string]int64 `json:"allocatable,omitempty"`
	Committed   map[string]int64 `json:"committed,omitempty"`
}

// VCluster is one vcluster's place in the federation.
type VCluster struct {
	// Key is "namespace/name" in its home region's management cluster.
	Key string `json:"key"`
	// Region is its home region, Host the host that runs its current
	// epoch.
	Region string `json:"region"`
	Host   string `json:"host,omitempty"`
	// Epoch is the only epoch whose control plane may hold live
	// credentials; every epoch at or below FencedEpoch has been fenced on
	// the store.
	Epoch       int64 `json:"epoch"`
	FencedEpoch int64 `json:"fencedEpoch"`
	// Store names the vcluster's backing store (never its credentials).
	Store string `json:"store,omitempty"`
	// Spec is the VirtualCluster's spec as its region's hub last homed
	// it: what another region makes it again from, should this one be
	// lost.
	Spec json.RawMessage `json:"spec,omitempty"`
	// UID names the vcluster's space on its store: its first
	// VirtualCluster's UID, which a region that makes it again keeps.
	UID string `json:"uid,omitempty"`
	// Phase and Ready are the vcluster's as its region's hub last
	// reported them.
	Phase string `json:"phase,omitempty"`
	Ready bool   `json:"ready,omitempty"`
	// ClaimedFrom is the lost region a surviving one claimed the vcluster
	// from, until the claimant moves it to its next epoch.
	ClaimedFrom string `json:"claimedFrom,omitempty"`
}

// Ahead reports whether a claimed record has moved past a region's
// object of it at epoch and fenced: the region got back a vcluster it
// had given away, and its object is stale until the takeover rewrites it.
func (v VCluster) Ahead(epoch, fenced int64) bool {
	return v.ClaimedFrom != "" && (v.Epoch > epoch || v.FencedEpoch > fenced)
}

// State is the whole ledger.
type State struct {
	Regions   map[string]Region   `json:"regions"`
	Hosts     map[string]Host     `json:"hosts"`
	VClusters map[string]VCluster `json:"vclusters"`
}

// New returns an empty ledger.
func New() *State {
	return &State{Regions: map[string]Region{}, Hosts: map[string]Host{}, VClusters: map[string]VCluster{}}
}

// Clone returns a copy of s that shares nothing with it.
func (s *State) Clone() *State {
	c := &State{Regions: maps.Clone(s.Regions), Hosts: make(map[string]Host, len(s.Hosts)), VClusters: make(map[string]VCluster, len(s.VClusters))}
	for k, vc := range s.VClusters {
		vc.Spec = slices.Clone(vc.Spec)
		c.VClusters[k] = vc
	}
	for k, h := range s.Hosts {
		h.Allocatable, h.Committed = maps.Clone(h.Allocatable), maps.Clone(h.Committed)
		c.Hosts[k] = h
	}
	return c
}

// checkName refuses a region or hub name that is not a DNS label, and a
// host name that is not a DNS subdomain (a HostCluster's name), so that
// nothing a peer writes can name something else in a key.
func checkName(what, name string) error {
	check := validation.IsDNS1123Label
	if what == "host" || what == "store" {
		check = validation.IsDNS1123Subdomain
	}
	if errs := check(name); len(errs) > 0 {
		return fmt.Errorf("%s %q: %s", what, name, strings.Join(errs, "; "))
	}
	return nil
}

// checkKey refuses a vcluster key that is not "namespace/name".
func checkKey(key string) error {
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return fmt.Errorf("vcluster key %q: want namespace/name", key)
	}
	if errs := append(validation.IsDNS1123Label(ns), validation.IsDNS1123Label(name)...); len(errs) > 0 {
		return fmt.Errorf("vcluster key %q: %s", key, strings.Join(errs, "; "))
	}
	return nil
}

// Decode reads a ledger written as JSON (a snapshot), with every map
// present however it was written.
func Decode(r io.Reader) (*State, error) {
	s := New()
	if err := json.NewDecoder(r).Decode(s); err != nil {
		return nil, fmt.Errorf("ledger snapshot does not decode: %w", err)
	}
	if s.Regions == nil {
		s.Regions = map[string]Region{}
	}
	if s.Hosts == nil {
		s.Hosts = map[string]Host{}
	}
	if s.VClusters == nil {
		s.VClusters = map[string]VCluster{}
	}
	return s, nil
}

// Local is a ledger applied in this process alone, with no raft: what a
// single hub's tests commit to, through the same commands.
type Local struct {
	mu sync.Mutex
	s  *State
}

// NewLocal returns a Local over s.
func NewLocal(s *State) *Local { return &Local{s: s} }

// Propose applies c at once.
func (l *Local) Propose(_ context.Context, c Command) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Apply(c)
}

// Ledger returns a copy of the ledger.
func (l *Local) Ledger() *State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Clone()
}
