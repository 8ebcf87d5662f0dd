package placement

import (
	"fmt"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/placement/framework"
)

// Scheduler places vclusters on hosts.
type Scheduler interface {
	// Schedule returns a host for req and reserves req's resources there
	// before it returns, so that the next decision sees them. A request
	// that already holds a reservation gets its host back, unless that
	// host is excluded. The error is an *Unschedulable when no host fits.
	Schedule(req *framework.Request) (string, error)
	// Release drops a vcluster's reservation.
	Release(uid types.UID)
}

// Engine is the Scheduler over an in-memory snapshot of the fleet. The
// snapshot is kept up to date incrementally (UpsertHost, Reserve, ...), so a
// decision never lists the API. One mutex serialises decisions and updates:
// a decision and its reservation are one step.
type Engine struct {
	mu sync.Mutex

	hosts    map[string]*framework.Host
	all      []*framework.Host
	byRegion map[string][]*framework.Host
	// committed is kept per host name apart from hosts, because a
	// reservation can be rebuilt before its HostCluster is seen.
	committed    map[string]framework.Resources
	reservations map[types.UID]*reservation
	labelOnHost  map[string]map[string]int // "key=value" -> host -> count
	labelInZone  map[string]map[string]int // "key=value" -> zone -> count
	groupInZone  map[string]map[string]int // group -> zone -> count
	stores       map[string]storeInfo

	profile         Profile
	defaultStrategy fleetv1.PlacementStrategy

	// Buffers reused by decisions, under mu.
	feasible []*framework.Host
	lists    [][]*framework.Host
	totals   []int64
	scores   []int64
	filters  []framework.Filter
	scorers  []weighted

	// slab hands out hosts from contiguous chunks: a decision walks
	// thousands of them, and scattered allocations cost cache misses.
	slab []framework.Host

	// afterPlace, if set, sees the chosen host right after its
	// reservation, under mu (tests check the invariant there).
	afterPlace func(*framework.Host)
}

type reservation struct {
	host, zone string
	res        framework.Resources
	labels     map[string]string
	group      string
}

type storeInfo struct {
	region    string
	reachable map[string]bool
	ready     bool
	why       string
}

var (
	_ Scheduler       = (*Engine)(nil)
	_ framework.Fleet = (*Engine)(nil)
)

// NewEngine returns an empty engine with the given plugins.
func NewEngine(profile Profile, defaultStrategy fleetv1.PlacementStrategy) *Engine {
	if defaultStrategy == "" {
		defaultStrategy = fleetv1.StrategyBinPack
	}
	return &Engine{
		hosts:           map[string]*framework.Host{},
		byRegion:        map[string][]*framework.Host{},
		committed:       map[string]framework.Resources{},
		reservations:    map[types.UID]*reservation{},
		labelOnHost:     map[string]map[string]int{},
		labelInZone:     map[string]map[string]int{},
		groupInZone:     map[string]map[string]int{},
		stores:          map[string]storeInfo{},
		profile:         profile,
		defaultStrategy: defaultStrategy,
	}
}

// Schedule implements Scheduler.
func (e *Engine) Schedule(req *framework.Request) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.reservations[req.UID]; ok {
		if !req.Exclude[r.host] {
			return r.host, nil
		}
		e.release(req.UID)
	}
	best, err := e.decide(req)
	if err != nil {
		return "", err
	}
	e.reserve(req.UID, best.Name, req.Resources, req.Labels, req.Group)
	if e.afterPlace != nil {
		e.afterPlace(best)
	}
	return best.Name, nil
}

// Check returns the host Schedule would choose for req, without reserving
// it and without releasing req's current reservation: whether a move can
// succeed, asked before anything is stopped for it.
func (e *Engine) Check(req *framework.Request) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	best, err := e.decide(req)
	if err != nil {
		return "", err
	}
	return best.Name, nil
}

// decide runs the filters and scores, under mu.
func (e *Engine) decide(req *framework.Request) (*framework.Host, error) {
	strategy := req.Strategy
	if strategy == "" {
		strategy = e.defaultStrategy
	}
	e.filters = e.filters[:0]
	for _, f := range e.profile.Filters {
		if relevant(f, req) {
			e.filters = append(e.filters, f)
		}
	}
	e.scorers = e.scorers[:0]
	for _, s := range e.profile.Scores[strategy] {
		if relevant(s.Plugin, req) {
			e.scorers = append(e.scorers, s)
		}
	}

	// The hot loop: no closure and no allocation per host.
	e.feasible = e.feasible[:0]
	for _, hosts := range e.candidates(req) {
	host:
		for _, h := range hosts {
			if len(req.Exclude) > 0 && req.Exclude[h.Name] {
				continue
			}
			for _, f := range e.filters {
				if ok, _ := f.Filter(req, h, e); !ok {
					continue host
				}
			}
			e.feasible = append(e.feasible, h)
		}
	}
	if len(e.feasible) == 0 {
		return nil, e.explain(req)
	}
	return e.best(req), nil
}

// best scores the feasible hosts and returns the highest; ties go to the
// host whose name sorts first, so decisions are deterministic.
func (e *Engine) best(req *framework.Request) *framework.Host {
	n := len(e.feasible)
	e.totals = resize(e.totals, n)
	clear(e.totals)
	for _, s := range e.scorers {
		e.scores = resize(e.scores, n)
		for i, h := range e.feasible {
			e.scores[i] = s.Plugin.Score(req, h, e)
		}
		if norm, ok := s.Plugin.(framework.Normalizer); ok {
			norm.Normalize(e.scores)
		}
		for i := range e.totals {
			e.totals[i] += s.Weight * e.scores[i]
		}
	}
	best := 0
	for i := 1; i < n; i++ {
		if e.totals[i] > e.totals[best] || (e.totals[i] == e.totals[best] && e.feasible[i].Name < e.feasible[best].Name) {
			best = i
		}
	}
	return e.feasible[best]
}

// candidates returns the host lists a request may use at all: those of its
// regions when it names regions (through the region index), else all.
func (e *Engine) candidates(req *framework.Request) [][]*framework.Host {
	e.lists = e.lists[:0]
	if req.Only != "" {
		if h, ok := e.hosts[req.Only]; ok && (len(req.Regions) == 0 || req.Regions[h.Region]) {
			e.lists = append(e.lists, []*framework.Host{h})
		}
		return e.lists
	}
	if len(req.Regions) == 0 {
		return append(e.lists, e.all)
	}
	for region := range req.Regions {
		e.lists = append(e.lists, e.byRegion[region])
	}
	return e.lists
}

func relevant(p framework.Plugin, req *framework.Request) bool {
	r, ok := p.(framework.Relevance)
	return !ok || r.Relevant(req)
}

func resize(s []int64, n int) []int64 {
	if cap(s) < n {
		return make([]int64, n)
	}
	return s[:n]
}

// ResizeRefused is a resize its host has no room for.
type ResizeRefused struct {
	Host       string
	Want, Free framework.Resources
	Short      string
}

func (e *ResizeRefused) Error() string {
	return fmt.Sprintf("host %s has no room to grow the vcluster: insufficient %s (it asks for %v; the host has %v free for it)",
		e.Host, e.Short, e.Want, e.Free)
}

// Resize changes the reservation of a vcluster placed on host to req's
// resources, if the host holds them with the vcluster's current
// reservation given back: a vcluster that grows passes the same capacity
// check as a new one, and one that shrinks always fits. Nothing changes
// when it does not fit.
func (e *Engine) Resize(req *framework.Request, host string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.hosts[host]
	if h == nil {
		return fmt.Errorf("host %s is not in the fleet", host)
	}
	var held framework.Resources
	if r, ok := e.reservations[req.UID]; ok && r.host == host {
		held = r.res
	}
	if !req.Resources.Fits(held) {
		free := h.Free().Add(held)
		switch {
		case req.Resources.MilliCPU > free.MilliCPU:
			return &ResizeRefused{Host: host, Want: req.Resources, Free: free, Short: "cpu"}
		case req.Resources.Memory > free.Memory:
			return &ResizeRefused{Host: host, Want: req.Resources, Free: free, Short: "memory"}
		case req.Resources.Pods > free.Pods:
			return &ResizeRefused{Host: host, Want: req.Resources, Free: free, Short: "pods"}
		}
	}
	e.release(req.UID)
	e.reserve(req.UID, host, req.Resources, req.Labels, req.Group)
	return nil
}

// Release implements Scheduler.
func (e *Engine) Release(uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.release(uid)
}

// Reserve records that a vcluster runs on host, as the API says: how the
// ledger is rebuilt after a restart, and how it follows resizes. It is
// idempotent.
func (e *Engine) Reserve(req *framework.Request, host string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.reservations[req.UID]; ok {
		if r.host == host && r.res == req.Resources {
			return
		}
		e.release(req.UID)
	}
	e.reserve(req.UID, host, req.Resources, req.Labels, req.Group)
}

func (e *Engine) reserve(uid types.UID, host string, res framework.Resources, labels map[string]string, group string) {
	zone := ""
	if h := e.hosts[host]; h != nil {
		zone = h.Zone
	}
	e.reservations[uid] = &reservation{host: host, zone: zone, res: res, labels: labels, group: group}
	e.addCommitted(host, res)
	for k, v := range labels {
		bump(e.labelOnHost, k+"="+v, host, 1)
		bump(e.labelInZone, k+"="+v, zone, 1)
	}
	if group != "" {
		bump(e.groupInZone, group, zone, 1)
	}
}

func (e *Engine) release(uid types.UID) {
	r, ok := e.reservations[uid]
	if !ok {
		return
	}
	delete(e.reservations, uid)
	e.addCommitted(r.host, framework.Resources{}.Sub(r.res))
	for k, v := range r.labels {
		bump(e.labelOnHost, k+"="+v, r.host, -1)
		bump(e.labelInZone, k+"="+v, r.zone, -1)
	}
	if r.group != "" {
		bump(e.groupInZone, r.group, r.zone, -1)
	}
}

func (e *Engine) addCommitted(host string, res framework.Resources) {
	c := e.committed[host].Add(res)
	if c == (framework.Resources{}) {
		delete(e.committed, host)
	} else {
		e.committed[host] = c
	}
	if h := e.hosts[host]; h != nil {
		h.Committed = c
	}
}

func bump(m map[string]map[string]int, key, sub string, by int) {
	inner := m[key]
	if inner == nil {
		inner = map[string]int{}
		m[key] = inner
	}
	inner[sub] += by
	if inner[sub] <= 0 {
		delete(inner, sub)
		if len(inner) == 0 {
			delete(m, key)
		}
	}
}

// LabelCountOnHost implements framework.Fleet.
func (e *Engine) LabelCountOnHost(key, value, host string) int {
	return e.labelOnHost[key+"="+value][host]
}

// LabelCountInZone implements framework.Fleet.
func (e *Engine) LabelCountInZone(key, value, zone string) int {
	return e.labelInZone[key+"="+value][zone]
}

// GroupCountInZone implements framework.Fleet.
func (e *Engine) GroupCountInZone(group, zone string) int { return e.groupInZone[group][zone] }

// StoreReachable implements framework.Fleet.
func (e *Engine) StoreReachable(name, region string) (bool, bool) {
	s, ok := e.stores[name]
	if !ok {
		return false, false
	}
	return s.region == region || s.reachable[region], true
}

// StoreReady implements framework.Fleet.
func (e *Engine) StoreReady(name string) (bool, string) {
	s, ok := e.stores[name]
	if !ok {
		return false, "not found"
	}
	return s.ready, s.why
}

// Stats describes the snapshot.
type Stats struct {
	Hosts, Reservations int
}

// Stats returns the snapshot's size.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Stats{Hosts: len(e.all), Reservations: len(e.reservations)}
}

func (s Stats) String() string {
	return strconv.Itoa(s.Hosts) + " hosts, " + strconv.Itoa(s.Reservations) + " reservations"
}
