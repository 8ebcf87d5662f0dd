package placement

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/cost"
	"github.com/vfleet/vfleet/placement/framework"
)

const gi = int64(1) << 30

func host(name, region, zone string, cpu, memGi int64) *framework.Host {
	return &framework.Host{
		Name: name, Region: region, Zone: zone, Ready: true, Versions: []string{"v1.36.3"},
		Capacity: framework.Resources{MilliCPU: cpu * 1000, Memory: memGi * gi, Pods: 1000},
	}
}

func request(uid string, cpu, memGi int64) *framework.Request {
	return &framework.Request{
		Key: "ns/" + uid, UID: types.UID(uid), Version: "v1.36.3",
		Resources: framework.Resources{MilliCPU: cpu * 1000, Memory: memGi * gi, Pods: 10},
	}
}

func engine(hosts ...*framework.Host) *Engine {
	e := NewEngine(DefaultProfile(), fleetv1.StrategyBinPack)
	for _, h := range hosts {
		e.UpsertHost(h)
	}
	return e
}

func mustSchedule(t *testing.T, e *Engine, req *framework.Request) string {
	t.Helper()
	h, err := e.Schedule(req)
	if err != nil {
		t.Fatalf("schedule %s: %v", req.Key, err)
	}
	return h
}

func TestStrategies(t *testing.T) {
	fleet := func() *Engine {
		a, b, c := host("a", "r1", "z1", 16, 64), host("b", "r1", "z2", 16, 64), host("c", "r1", "z3", 16, 64)
		a.HasPrices, a.Prices = true, cost.Prices{CPUHour: 0.05, MemoryGiBHour: 0.005}
		b.HasPrices, b.Prices = true, cost.Prices{CPUHour: 0.02, MemoryGiBHour: 0.002}
		c.HasPrices, c.Prices = true, cost.Prices{CPUHour: 0.03, MemoryGiBHour: 0.003}
		return engine(a, b, c)
	}
	for _, tc := range []struct {
		strategy fleetv1.PlacementStrategy
		want     []string // where 6 requests of 2 CPU land, in order
	}{
		// Fill the first host (ties go to the first name), then stay there.
		{fleetv1.StrategyBinPack, []string{"a", "a", "a", "a", "a", "a"}},
		// Round-robin over the emptiest.
		{fleetv1.StrategySpread, []string{"a", "b", "c", "a", "b", "c"}},
		// The cheapest host until it is full, here never.
		{fleetv1.StrategyLowestCost, []string{"b", "b", "b", "b", "b", "b"}},
	} {
		t.Run(string(tc.strategy), func(t *testing.T) {
			e := fleet()
			for i, want := range tc.want {
				req := request(fmt.Sprint(i), 2, 4)
				req.Strategy = tc.strategy
				if got := mustSchedule(t, e, req); got != want {
					t.Fatalf("request %d went to %s, want %s", i, got, want)
				}
			}
		})
	}
}

func TestBinPackFillsThenMovesOn(t *testing.T) {
	// Two 8-CPU hosts take two 3-CPU vclusters each; a fifth fits nowhere.
	e := engine(host("a", "r1", "z1", 8, 64), host("b", "r1", "z2", 8, 64))
	var got []string
	for i := range 4 {
		got = append(got, mustSchedule(t, e, request(fmt.Sprint(i), 3, 1)))
	}
	if strings.Join(got, " ") != "a a b b" {
		t.Fatalf("placements %v, want a a b b", got)
	}
	_, err := e.Schedule(request("4", 3, 1))
	if err == nil || err.Error() != "0/2 hosts fit: 2 insufficient cpu" {
		t.Fatalf("fifth: %v", err)
	}
}

func TestScheduleIsIdempotent(t *testing.T) {
	e := engine(host("a", "r1", "z1", 4, 8), host("b", "r1", "z2", 4, 8))
	req := request("vc", 3, 1)
	first := mustSchedule(t, e, req)
	for range 3 {
		if again := mustSchedule(t, e, req); again != first {
			t.Fatalf("same request placed on %s then %s", first, again)
		}
	}
	if c := e.hosts[first].Committed.MilliCPU; c != 3000 {
		t.Fatalf("committed %dm after repeated decisions, want 3000m: placed twice", c)
	}
}

func TestExcludeMovesAndReleases(t *testing.T) {
	e := engine(host("a", "r1", "z1", 4, 8), host("b", "r1", "z2", 4, 8))
	req := request("vc", 3, 1)
	from := mustSchedule(t, e, req)
	req.Exclude = map[string]bool{from: true}
	to := mustSchedule(t, e, req)
	if to == from {
		t.Fatalf("excluded host %s chosen again", from)
	}
	if e.hosts[from].Committed.MilliCPU != 0 || e.hosts[to].Committed.MilliCPU != 3000 {
		t.Fatalf("committed: %s %d, %s %d", from, e.hosts[from].Committed.MilliCPU, to, e.hosts[to].Committed.MilliCPU)
	}
}

func TestExplanation(t *testing.T) {
	down := host("down", "r1", "z1", 64, 256)
	down.Ready = false
	cordoned := host("cordoned", "r1", "z1", 64, 256)
	cordoned.Unschedulable = true
	tainted := host("gpu", "r1", "z1", 64, 256)
	tainted.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	e := engine(
		host("small-1", "r1", "z1", 2, 64), host("small-2", "r1", "z1", 2, 64),
		host("lowmem", "r1", "z2", 64, 1),
		host("far-1", "r2", "z9", 64, 256), host("far-2", "r2", "z9", 64, 256), host("far-3", "r3", "z9", 64, 256),
		down, cordoned, tainted,
	)
	req := request("big", 8, 16)
	req.Regions = map[string]bool{"r1": true}
	_, err := e.Schedule(req)
	u, ok := err.(*Unschedulable)
	if !ok {
		t.Fatalf("error %v, want *Unschedulable", err)
	}
	want := "0/9 hosts fit: 3 region not allowed, 2 insufficient cpu, 1 cordoned, 1 insufficient memory, 1 unreachable, 1 untolerated taint gpu"
	if u.Error() != want {
		t.Fatalf("explanation\n got: %s\nwant: %s", u.Error(), want)
	}
	if got, want := u.ByFilter, map[string]int{"Region": 3, "CapacityFit": 3, "Health": 2, "Taints": 1}; !maps.Equal(got, want) {
		t.Errorf("by filter %v, want %v", got, want)
	}
	if msg := (&Unschedulable{}).Error(); !strings.Contains(msg, "no hosts") {
		t.Fatalf("empty fleet: %q", msg)
	}
}

func TestReserveRebuildsTheLedger(t *testing.T) {
	e := engine(host("a", "r1", "z1", 4, 8))
	// A restarted hub learns from the API that vc-1 runs on a, before or
	// after it sees host a itself.
	e.Reserve(request("vc-1", 3, 1), "a")
	e.Reserve(request("vc-1", 3, 1), "a") // again: no double count
	e.Reserve(request("vc-2", 1, 1), "b") // b not seen yet
	if _, err := e.Schedule(request("vc-3", 2, 1)); err == nil {
		t.Fatal("placed on a host the ledger says is full")
	}
	e.UpsertHost(host("b", "r1", "z2", 4, 8))
	if c := e.hosts["b"].Committed.MilliCPU; c != 1000 {
		t.Fatalf("b committed %dm, want the reservation made before it appeared", c)
	}
	e.Release("vc-1")
	if got := mustSchedule(t, e, request("vc-3", 2, 1)); got == "" {
		t.Fatal("released capacity not reusable")
	}
}

func TestAntiAffinityAcrossZones(t *testing.T) {
	e := engine(host("a", "r1", "z1", 16, 64), host("b", "r1", "z1", 16, 64), host("c", "r1", "z2", 16, 64))
	replica := func(i int) *framework.Request {
		req := request(fmt.Sprint("replica-", i), 1, 1)
		req.Labels = map[string]string{"tenant": "acme"}
		req.AntiAffinity = &fleetv1.AntiAffinity{LabelKey: "tenant", Scope: fleetv1.AntiAffinityZone}
		req.Group = "tenant=acme"
		return req
	}
	z := map[string]string{"a": "z1", "b": "z1", "c": "z2"}
	first, second := mustSchedule(t, e, replica(1)), mustSchedule(t, e, replica(2))
	if z[first] == z[second] {
		t.Fatalf("replicas in one zone: %s, %s", first, second)
	}
	if _, err := e.Schedule(replica(3)); err == nil || !strings.Contains(err.Error(), "anti-affinity") {
		t.Fatalf("third replica with two zones: %v", err)
	}
}

// TestNeverOvercommit runs random concurrent streams of placements,
// releases and capacity changes. No placement may leave its host with more
// committed than capacity, and at the end the ledger must hold exactly what
// the streams placed and did not release.
func TestNeverOvercommit(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed-", seed), func(t *testing.T) { neverOvercommit(t, seed) })
	}
}

func neverOvercommit(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	var hosts []*framework.Host
	for i := range 12 {
		hosts = append(hosts, host(fmt.Sprint("h", i), fmt.Sprint("r", i%3), fmt.Sprint("z", i%5), 4+rng.Int64N(28), 8+rng.Int64N(120)))
	}
	e := engine(hosts...)
	var violations []string
	e.afterPlace = func(h *framework.Host) {
		if !h.Committed.Fits(h.Capacity) {
			violations = append(violations, fmt.Sprintf("%s committed %+v > capacity %+v", h.Name, h.Committed, h.Capacity))
		}
	}

	type placed struct {
		host string
		res  framework.Resources
	}
	var (
		mu   sync.Mutex
		live = map[types.UID]placed{}
		wg   sync.WaitGroup
	)
	const workers, ops = 6, 400
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := range ops {
				switch op := r.IntN(10); {
				case op < 6: // place
					req := request(fmt.Sprintf("w%d-%d", w, i), 1+r.Int64N(6), 1+r.Int64N(24))
					if r.IntN(3) == 0 {
						req.Regions = map[string]bool{fmt.Sprint("r", r.IntN(3)): true}
					}
					h, err := e.Schedule(req)
					if err == nil {
						mu.Lock()
						live[req.UID] = placed{h, req.Resources}
						mu.Unlock()
					}
				case op < 9: // release one of ours
					mu.Lock()
					var victim types.UID
					for uid := range live {
						if strings.HasPrefix(string(uid), fmt.Sprintf("w%d-", w)) {
							victim = uid
							break
						}
					}
					if victim != "" {
						delete(live, victim)
					}
					mu.Unlock()
					if victim != "" {
						e.Release(victim)
					}
				default: // a host's capacity changes, up or down
					h := *hosts[r.IntN(len(hosts))]
					h.Capacity.MilliCPU = (2 + r.Int64N(30)) * 1000
					h.Capacity.Memory = (4 + r.Int64N(124)) * gi
					e.UpsertHost(&h)
				}
			}
		}()
	}
	wg.Wait()
	for _, v := range violations {
		t.Error(v)
	}
	want := map[string]framework.Resources{}
	for _, p := range live {
		want[p.host] = want[p.host].Add(p.res)
	}
	for _, h := range e.all {
		if h.Committed != want[h.Name] {
			t.Errorf("%s: ledger says %+v committed, the streams left %+v", h.Name, h.Committed, want[h.Name])
		}
	}
}

func TestCheckAndOnly(t *testing.T) {
	e := engine(host("a", "r", "z1", 4, 16), host("b", "r", "z2", 4, 16), host("c", "r", "z3", 1, 2))
	req := request("vc", 2, 4)
	from := mustSchedule(t, e, req)

	// Check neither reserves nor gives up the current reservation.
	move := *req
	move.Exclude = map[string]bool{from: true}
	to, err := e.Check(&move)
	if err != nil || to == from {
		t.Fatalf("Check = %q, %v; want a host other than %s", to, err, from)
	}
	if got := mustSchedule(t, e, req); got != from {
		t.Fatalf("after Check the vcluster's reservation moved to %s", got)
	}

	// Only considers the one host, and says why it does not fit.
	move.Only = "c"
	if _, err := e.Check(&move); err == nil || !strings.Contains(err.Error(), "c") {
		t.Fatalf("Check on a host too small = %v, want an explanation naming it", err)
	}
	move.Only = to
	if got, err := e.Schedule(&move); err != nil || got != to {
		t.Fatalf("Schedule(Only=%s) = %q, %v", to, got, err)
	}
}

// TestResize: a vcluster that grows on its host passes the capacity check
// a new one would, with its own reservation given back; one that shrinks
// always fits; a refusal changes nothing.
func TestResize(t *testing.T) {
	e := engine(host("a", "r1", "z1", 8, 32))
	small := request("grower", 2, 4)
	mustSchedule(t, e, small)
	mustSchedule(t, e, request("neighbour", 4, 4))

	var refused *ResizeRefused
	if err := e.Resize(request("grower", 5, 4), "a"); !errors.As(err, &refused) || refused.Short != "cpu" {
		t.Fatalf("growing past the host: %v, want a refusal for cpu", err)
	}
	if got := e.committed["a"].MilliCPU; got != 6000 {
		t.Fatalf("committed cpu after a refused resize: %dm, want 6000m", got)
	}
	if err := e.Resize(request("grower", 4, 4), "a"); err != nil {
		t.Fatalf("growing into the room there is: %v", err)
	}
	if got := e.committed["a"].MilliCPU; got != 8000 {
		t.Fatalf("committed cpu: %dm, want 8000m", got)
	}
	// The host shrinks under its vclusters: a vcluster may still shrink.
	e.UpsertHost(host("a", "r1", "z1", 4, 32))
	if err := e.Resize(request("grower", 3, 4), "a"); err != nil {
		t.Fatalf("shrinking on an overcommitted host: %v", err)
	}
	if err := e.Resize(request("grower", 1, 4), "nowhere"); err == nil {
		t.Fatal("resized on a host the fleet does not have")
	}
}
