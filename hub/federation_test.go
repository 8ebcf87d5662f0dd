package hub

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/federation/ledger"
)

// TestRegionReport: the hub reports its own region's hosts, ready or not,
// with capacity in the ledger's units.
func TestRegionReport(t *testing.T) {
	host := func(name, region string, ready bool) fleetv1.HostCluster {
		h := fleetv1.HostCluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: fleetv1.HostClusterSpec{Region: region}}
		status := metav1.ConditionFalse
		if ready {
			status = metav1.ConditionTrue
		}
		h.Status.Conditions = []metav1.Condition{{Type: fleetv1.ConditionReady, Status: status}}
		h.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3500m"), corev1.ResourceMemory: resource.MustParse("2Gi")}
		return h
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cmd := regionReport("eu", "hub-eu", []fleetv1.HostCluster{host("eu-1", "eu", true), host("us-1", "us", true), host("eu-2", "eu", false)}, now)
	if cmd.Region.Name != "eu" || cmd.Region.Hub != "hub-eu" || !cmd.Region.Reported.Equal(now) {
		t.Errorf("region %+v", cmd.Region)
	}
	if len(cmd.Hosts) != 2 || cmd.Hosts[0].Name != "eu-1" || cmd.Hosts[1].Name != "eu-2" {
		t.Fatalf("hosts %+v, want eu-1 and eu-2", cmd.Hosts)
	}
	if !cmd.Hosts[0].Ready || cmd.Hosts[1].Ready {
		t.Errorf("readiness %v %v, want true false", cmd.Hosts[0].Ready, cmd.Hosts[1].Ready)
	}
	if got := cmd.Hosts[0].Allocatable; got["cpu"] != 3500 || got["memory"] != 2<<30 {
		t.Errorf("allocatable %v, want cpu 3500 (millicores) and memory in bytes", got)
	}
}

// TestVClusterStates: a region reports the vclusters it runs, with their
// phase and readiness; not one never placed, nor a copy another region
// runs.
func TestVClusterStates(t *testing.T) {
	vc := func(name string, epoch int64, phase fleetv1.VirtualClusterPhase, ready bool) fleetv1.VirtualCluster {
		v := fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name}}
		v.Status.Epoch, v.Status.Phase = epoch, phase
		if ready {
			v.Status.Conditions = []metav1.Condition{{Type: fleetv1.ConditionReady, Status: metav1.ConditionTrue}}
		}
		return v
	}
	got := vclusterStates([]fleetv1.VirtualCluster{
		vc("web", 2, fleetv1.PhaseReady, true), vc("new", 0, fleetv1.PhasePending, false),
		vc("moved", 3, fleetv1.PhaseElsewhere, false), vc("db", 1, fleetv1.PhaseFailingOver, false),
	})
	want := []ledger.VClusterState{{Key: "team/web", Phase: "Ready", Ready: true}, {Key: "team/db", Phase: "FailingOver"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("states %+v, want %+v", got, want)
	}
}

// TestUsableStores: a region reports the stores its hub can provision on
// and its hosts reach; not one that is down, nor one its hosts cannot reach.
func TestUsableStores(t *testing.T) {
	store := func(name, region string, ready bool, reachableFrom ...string) fleetv1.BackingStore {
		bs := fleetv1.BackingStore{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: fleetv1.BackingStoreSpec{Region: region, ReachableFromRegions: reachableFrom}}
		status := metav1.ConditionFalse
		if ready {
			status = metav1.ConditionTrue
		}
		bs.Status.Conditions = []metav1.Condition{{Type: fleetv1.ConditionReady, Status: status}}
		return bs
	}
	for _, tc := range []struct {
		name   string
		stores []fleetv1.BackingStore
		want   []string
	}{
		{name: "none", want: nil},
		{name: "in the region", stores: []fleetv1.BackingStore{store("pg", "eu", true)}, want: []string{"pg"}},
		{name: "in another region that the region reaches", stores: []fleetv1.BackingStore{store("pg-us", "us", true, "ap", "eu")}, want: []string{"pg-us"}},
		{name: "in another region out of reach", stores: []fleetv1.BackingStore{store("pg-us", "us", true, "ap")}, want: nil},
		{name: "one the hub cannot log in to", stores: []fleetv1.BackingStore{store("pg", "eu", false), store("etcd", "eu", true)}, want: []string{"etcd"}},
		{name: "one never checked", stores: []fleetv1.BackingStore{{ObjectMeta: metav1.ObjectMeta{Name: "new"}, Spec: fleetv1.BackingStoreSpec{Region: "eu"}}}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := usableStores("eu", tc.stores); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSteadySince: a report continues its hub's steady run unless the last
// committed one is older than the gap, or there is none.
func TestSteadySince(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	const gap = 5 * time.Second
	for _, tc := range []struct {
		name            string
		last, since, at time.Time
		want            time.Time
	}{
		{name: "the first report starts a run", at: t0, want: t0},
		{name: "a report an interval after the last continues its run", last: t0, since: t0.Add(-time.Hour), at: t0.Add(2 * time.Second), want: t0.Add(-time.Hour)},
		{name: "a report exactly the gap after the last continues its run", last: t0, since: t0.Add(-time.Hour), at: t0.Add(gap), want: t0.Add(-time.Hour)},
		{name: "a report longer than the gap after the last starts a run", last: t0, since: t0.Add(-time.Hour), at: t0.Add(gap + time.Millisecond), want: t0.Add(gap + time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := steadySince(tc.last, tc.since, tc.at, gap); !got.Equal(tc.want) {
				t.Errorf("steadySince = %v, want %v", got, tc.want)
			}
		})
	}
}
