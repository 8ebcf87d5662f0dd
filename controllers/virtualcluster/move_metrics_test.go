package virtualcluster

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

func TestMoveTook(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	history := func(reason string) []fleetv1.PlacementRecord {
		return []fleetv1.PlacementRecord{{Host: "a", Epoch: 1, Reason: fleetv1.PlacementInitial}, {Host: "b", Epoch: 2, Reason: reason}}
	}
	status := func(phase fleetv1.VirtualClusterPhase, reason string, op *fleetv1.OperationStatus) *fleetv1.VirtualClusterStatus {
		return &fleetv1.VirtualClusterStatus{Phase: phase, Host: "b", Epoch: 2, PlacementHistory: history(reason), Operation: op}
	}
	op := func(typ fleetv1.OperationType, phase fleetv1.OperationPhase) *fleetv1.OperationStatus {
		return &fleetv1.OperationStatus{ID: "x", Type: typ, Phase: phase, From: "a", To: "b", StartTime: &metav1.Time{Time: now.Add(-8 * time.Second)}}
	}
	seenA := func(host string) (time.Time, bool) { return now.Add(-30 * time.Second), host == "a" }
	for _, tc := range []struct {
		name          string
		before, after *fleetv1.VirtualClusterStatus
		lastSeen      func(string) (time.Time, bool)
		took          time.Duration
		migration     bool
		trigger       string
		ok            bool
	}{
		{name: "a silent host's failover: from its last heartbeat",
			before: status(fleetv1.PhaseProvisioning, fleetv1.PlacementFailover, nil), after: status(fleetv1.PhaseReady, fleetv1.PlacementFailover, nil),
			lastSeen: seenA, took: 30 * time.Second, trigger: triggerHostSilent, ok: true},
		{name: "a silent host this hub never saw: not timed",
			before: status(fleetv1.PhaseProvisioning, fleetv1.PlacementFailover, nil), after: status(fleetv1.PhaseReady, fleetv1.PlacementFailover, nil),
			lastSeen: func(string) (time.Time, bool) { return time.Time{}, false }},
		{name: "a failover asked: from the ask",
			before:   status(fleetv1.PhaseProvisioning, fleetv1.PlacementFailover, op(fleetv1.OperationFailover, fleetv1.OperationInProgress)),
			after:    status(fleetv1.PhaseReady, fleetv1.PlacementFailover, op(fleetv1.OperationFailover, fleetv1.OperationSucceeded)),
			lastSeen: seenA, took: 8 * time.Second, trigger: triggerAsked, ok: true},
		{name: "a migration",
			before:   status(fleetv1.PhaseProvisioning, fleetv1.PlacementMigration, op(fleetv1.OperationMigration, fleetv1.OperationInProgress)),
			after:    status(fleetv1.PhaseReady, fleetv1.PlacementMigration, op(fleetv1.OperationMigration, fleetv1.OperationSucceeded)),
			lastSeen: seenA, took: 8 * time.Second, migration: true, trigger: triggerAsked, ok: true},
		{name: "Ready already: not again",
			before: status(fleetv1.PhaseReady, fleetv1.PlacementFailover, nil), after: status(fleetv1.PhaseReady, fleetv1.PlacementFailover, nil), lastSeen: seenA},
		{name: "a first placement is no move",
			before: &fleetv1.VirtualClusterStatus{Phase: fleetv1.PhaseProvisioning}, lastSeen: seenA,
			after: &fleetv1.VirtualClusterStatus{Phase: fleetv1.PhaseReady, Host: "a", Epoch: 1, PlacementHistory: history(fleetv1.PlacementFailover)[:1]}},
		{name: "its last placement is not its epoch's: no move",
			before: status(fleetv1.PhaseProvisioning, fleetv1.PlacementFailover, nil), lastSeen: seenA,
			after: &fleetv1.VirtualClusterStatus{Phase: fleetv1.PhaseReady, Host: "b", Epoch: 3, PlacementHistory: history(fleetv1.PlacementFailover)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			took, migration, trigger, ok := moveTook(tc.before, tc.after, now, tc.lastSeen)
			if took != tc.took || migration != tc.migration || trigger != tc.trigger || ok != tc.ok {
				t.Fatalf("moveTook = %s, %v, %q, %v; want %s, %v, %q, %v", took, migration, trigger, ok, tc.took, tc.migration, tc.trigger, tc.ok)
			}
		})
	}
}

func TestOnlyUsedChanged(t *testing.T) {
	base := &fleetv1.ControlPlane{ObjectMeta: metav1.ObjectMeta{Name: "a.b", ResourceVersion: "1"},
		Status: fleetv1.ControlPlaneStatus{Phase: fleetv1.ControlPlaneRunning}}
	used := func(cpu string) *fleetv1.ResourceUse {
		return &fleetv1.ResourceUse{CPU: resource.MustParse(cpu), Memory: resource.MustParse("1Gi"), Pods: 1}
	}
	for _, tc := range []struct {
		name   string
		change func(cp *fleetv1.ControlPlane)
		want   bool
	}{
		{"used only: no reconcile", func(cp *fleetv1.ControlPlane) { cp.Status.Used = used("1") }, true},
		{"nothing (a resync): the usual reconcile", func(*fleetv1.ControlPlane) {}, false},
		{"the phase too", func(cp *fleetv1.ControlPlane) {
			cp.Status.Used, cp.Status.Phase = used("1"), fleetv1.ControlPlaneFailed
		}, false},
		{"the phase only", func(cp *fleetv1.ControlPlane) { cp.Status.Phase = fleetv1.ControlPlaneFailed }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := base.DeepCopy()
			cur.ResourceVersion = "2"
			tc.change(cur)
			if got := onlyUsedChanged(base, cur); got != tc.want {
				t.Fatalf("onlyUsedChanged = %v, want %v", got, tc.want)
			}
		})
	}
}
