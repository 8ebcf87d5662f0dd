package virtualcluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/test/builder"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// placedVC is a vcluster placed on host-a at epoch 2 (after a failover
// from host-z), in generation 3, with its status as the last reconcile
// left it.
func placedVC(external bool, mutate func(*fleetv1.VirtualCluster)) *fleetv1.VirtualCluster {
	w := builder.MakeVirtualCluster("default", "web").CPU("1")
	if external {
		w = w.External("pg")
	}
	vc := w.Obj()
	vc.Generation = 3
	vc.Status = fleetv1.VirtualClusterStatus{
		ObservedGeneration: 2, Phase: fleetv1.PhaseScheduled, Host: "host-a", Epoch: 2, FencedEpoch: 1,
		PlacementHistory: []fleetv1.PlacementRecord{
			{Host: "host-z", Epoch: 1, Time: metav1.NewTime(t0.Add(-time.Hour)), Reason: fleetv1.PlacementInitial},
			{Host: "host-a", Epoch: 2, Time: metav1.NewTime(t0.Add(-time.Minute)), Reason: fleetv1.PlacementFailover},
		},
		Conditions: []metav1.Condition{{
			Type: fleetv1.ConditionScheduled, Status: metav1.ConditionTrue, Reason: fleetv1.ReasonPlaced,
			Message: "placed on host host-a at epoch 2 (Failover from host-z)", LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour)), ObservedGeneration: 2,
		}},
	}
	if mutate != nil {
		mutate(vc)
	}
	return vc
}

func withCondition(c metav1.Condition) func(*fleetv1.VirtualCluster) {
	return func(vc *fleetv1.VirtualCluster) {
		c.LastTransitionTime = metav1.NewTime(t0.Add(-time.Hour))
		meta.SetStatusCondition(&vc.Status.Conditions, c)
	}
}

func inProgress(typ fleetv1.OperationType) func(*fleetv1.VirtualCluster) {
	return func(vc *fleetv1.VirtualCluster) {
		vc.Status.Operation = &fleetv1.OperationStatus{
			ID: "op-1", Type: typ, From: "host-z", Phase: fleetv1.OperationInProgress,
			Message: "started", StartTime: ptrTime(t0.Add(-2500 * time.Millisecond)),
		}
	}
}

func all(fs ...func(*fleetv1.VirtualCluster)) func(*fleetv1.VirtualCluster) {
	return func(vc *fleetv1.VirtualCluster) {
		for _, f := range fs {
			f(vc)
		}
	}
}

// wantCondition is what a test asserts of a condition: nil when it must
// be absent.
type wantCondition struct {
	status  metav1.ConditionStatus
	reason  string
	message string // a substring
}

func TestComputeStatus(t *testing.T) {
	running := controlPlaneReport{current: true, phase: fleetv1.ControlPlaneRunning, endpoint: "https://10.0.0.1:6443", kubeconfigIssued: true}
	tests := []struct {
		name       string
		external   bool
		vc         func(*fleetv1.VirtualCluster)
		o          observed
		phase      fleetv1.VirtualClusterPhase
		conditions map[string]*wantCondition
		endpoint   string
		operation  *fleetv1.OperationStatus
		events     []string // "Type Reason: note substring"
	}{{
		name:  "nothing observed leaves the status as it was",
		phase: fleetv1.PhaseScheduled,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionScheduled: {metav1.ConditionTrue, fleetv1.ReasonPlaced, "placed on host host-a"},
			fleetv1.ConditionReady:     nil,
		},
	}, {
		name:  "no host fits: Pending, and told once",
		o:     observed{unscheduled: &unscheduled{reason: fleetv1.ReasonUnschedulable, message: "0/2 hosts fit: 2 insufficient cpu"}},
		phase: fleetv1.PhasePending,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionScheduled: {metav1.ConditionFalse, fleetv1.ReasonUnschedulable, "0/2 hosts fit: 2 insufficient cpu"},
		},
		events: []string{"Warning FailedScheduling: 0/2 hosts fit"},
	}, {
		name: "the same explanation again is not news",
		vc: all(withCondition(metav1.Condition{Type: fleetv1.ConditionScheduled, Status: metav1.ConditionFalse, Reason: fleetv1.ReasonUnschedulable, Message: "0/2 hosts fit"}),
			func(vc *fleetv1.VirtualCluster) { vc.Status.Phase = fleetv1.PhasePending }),
		o:     observed{unscheduled: &unscheduled{reason: fleetv1.ReasonUnschedulable, message: "0/2 hosts fit"}},
		phase: fleetv1.PhasePending,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionScheduled: {metav1.ConditionFalse, fleetv1.ReasonUnschedulable, "0/2 hosts fit"},
		},
	}, {
		name:  "an invalid placement says why",
		o:     observed{unscheduled: &unscheduled{reason: fleetv1.ReasonInvalidPlacement, message: "bad selector"}},
		phase: fleetv1.PhasePending,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionScheduled: {metav1.ConditionFalse, fleetv1.ReasonInvalidPlacement, "bad selector"},
		},
		events: []string{"Warning FailedScheduling: bad selector"},
	}, {
		name:     "a fence that fails holds the move, and the operation says so",
		external: true,
		vc:       inProgress(fleetv1.OperationFailover),
		o:        observed{moveStep: &moveStep{reason: fleetv1.ReasonFenceFailed, message: "cannot revoke", eventType: corev1.EventTypeWarning}},
		phase:    fleetv1.PhaseFailingOver,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionFailover: {metav1.ConditionFalse, fleetv1.ReasonFenceFailed, "cannot revoke"},
		},
		operation: &fleetv1.OperationStatus{Phase: fleetv1.OperationInProgress, Message: "cannot revoke"},
		events:    []string{"Warning FenceFailed: cannot revoke"},
	}, {
		name:     "a migration stops the old control plane first",
		external: true,
		vc:       inProgress(fleetv1.OperationMigration),
		o:        observed{moveStep: &moveStep{reason: fleetv1.ReasonStoppingForMigration, message: "stopping", eventType: corev1.EventTypeNormal}},
		phase:    fleetv1.PhaseFailingOver,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionFailover: {metav1.ConditionFalse, fleetv1.ReasonStoppingForMigration, "stopping"},
		},
		operation: &fleetv1.OperationStatus{Phase: fleetv1.OperationInProgress, Message: "stopping"},
		events:    []string{"Normal StoppingForMigration: stopping"},
	}, {
		name:     "a step told already is not news",
		external: true,
		vc:       withCondition(metav1.Condition{Type: fleetv1.ConditionFailover, Status: metav1.ConditionFalse, Reason: fleetv1.ReasonFailingOver, Message: "no other host fits"}),
		o:        observed{moveStep: &moveStep{reason: fleetv1.ReasonFailingOver, message: "no other host fits", eventType: corev1.EventTypeWarning}},
		phase:    fleetv1.PhaseFailingOver,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionFailover: {metav1.ConditionFalse, fleetv1.ReasonFailingOver, "no other host fits"},
		},
	}, {
		name:  "a ControlPlane that cannot be made",
		o:     observed{provisioningFailed: "provision the vcluster's store on pg: refused"},
		phase: fleetv1.PhaseScheduled,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionProvisioned: {metav1.ConditionFalse, fleetv1.ReasonProvisioningFailed, "refused"},
		},
		events: []string{"Warning ProvisioningFailed: refused"},
	}, {
		name: "the same provisioning failure again is not news",
		vc: withCondition(metav1.Condition{Type: fleetv1.ConditionProvisioned, Status: metav1.ConditionFalse, Reason: fleetv1.ReasonProvisioningFailed,
			Message: "refused"}),
		o:     observed{provisioningFailed: "refused"},
		phase: fleetv1.PhaseScheduled,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionProvisioned: {metav1.ConditionFalse, fleetv1.ReasonProvisioningFailed, "refused"},
		},
	}, {
		name:     "waiting for the agent to take up the epoch",
		external: true,
		o:        observed{controlPlane: &controlPlaneReport{current: false, phase: fleetv1.ControlPlaneRunning}},
		phase:    fleetv1.PhaseScheduled,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionProvisioned: {metav1.ConditionFalse, fleetv1.ReasonWaitingForAgent, "waiting for the agent of host host-a to take up epoch 2"},
			fleetv1.ConditionReady:       {metav1.ConditionFalse, fleetv1.ReasonWaitingForAgent, "epoch 2"},
			fleetv1.ConditionFailover:    {metav1.ConditionTrue, fleetv1.ReasonProtected, "once host host-a has been silent for 15s"},
		},
	}, {
		name:  "a control plane that failed",
		o:     observed{controlPlane: &controlPlaneReport{current: true, phase: fleetv1.ControlPlaneFailed, message: "exit 1"}},
		phase: fleetv1.PhaseFailed,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionProvisioned: {metav1.ConditionFalse, fleetv1.ReasonControlPlaneFailed, "failed to start: exit 1"},
			fleetv1.ConditionReady:       {metav1.ConditionFalse, fleetv1.ReasonControlPlaneFailed, "exit 1"},
			fleetv1.ConditionFailover:    {metav1.ConditionFalse, fleetv1.ReasonEmbeddedStore, "SQLite on host host-a"},
		},
		events: []string{"Warning ControlPlaneFailed: failed to start: exit 1"},
	}, {
		name:  "a sleeping control plane",
		o:     observed{controlPlane: &controlPlaneReport{current: true, phase: fleetv1.ControlPlaneSleeping, message: "asleep"}},
		phase: fleetv1.PhaseSleeping,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionProvisioned: {metav1.ConditionFalse, fleetv1.ReasonSleeping, "asleep"},
		},
	}, {
		name:  "a starting control plane",
		o:     observed{controlPlane: &controlPlaneReport{current: true, phase: fleetv1.ControlPlaneStarting, message: "etcd"}},
		phase: fleetv1.PhaseProvisioning,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionProvisioned: {metav1.ConditionFalse, fleetv1.ReasonControlPlaneStarting, "starting on host host-a: etcd"},
		},
	}, {
		name:     "running, before the kubeconfig is issued",
		o:        observed{controlPlane: &controlPlaneReport{current: true, phase: fleetv1.ControlPlaneRunning, endpoint: "https://10.0.0.1:6443"}},
		phase:    fleetv1.PhaseProvisioning,
		endpoint: "https://10.0.0.1:6443",
		conditions: map[string]*wantCondition{
			fleetv1.ConditionProvisioned: {metav1.ConditionTrue, fleetv1.ReasonControlPlaneRunning, "runs on host host-a at https://10.0.0.1:6443"},
			fleetv1.ConditionReady:       {metav1.ConditionFalse, fleetv1.ReasonControlPlaneRunning, "runs on host host-a"},
		},
	}, {
		name:     "Ready once the kubeconfig is issued",
		external: true,
		o:        observed{controlPlane: &running},
		phase:    fleetv1.PhaseReady,
		endpoint: "https://10.0.0.1:6443",
		conditions: map[string]*wantCondition{
			fleetv1.ConditionReady:    {metav1.ConditionTrue, fleetv1.ReasonKubeconfigIssued, "kubeconfig in Secret web-kubeconfig"},
			fleetv1.ConditionFailover: {metav1.ConditionTrue, fleetv1.ReasonProtected, "host host-a"},
		},
		events: []string{"Normal Ready: ready at https://10.0.0.1:6443; kubeconfig in Secret web-kubeconfig"},
	}, {
		name:     "what a silent host's agent last reported is stale",
		external: true,
		o:        observed{controlPlane: &controlPlaneReport{current: true, phase: fleetv1.ControlPlaneRunning, endpoint: "https://10.0.0.1:6443", kubeconfigIssued: true, hostSilent: 7 * time.Second}},
		phase:    fleetv1.PhaseProvisioning,
		endpoint: "https://10.0.0.1:6443",
		conditions: map[string]*wantCondition{
			fleetv1.ConditionReady:    {metav1.ConditionFalse, fleetv1.ReasonHostUnreachable, "host host-a has not renewed its Lease for 7s"},
			fleetv1.ConditionFailover: {metav1.ConditionTrue, fleetv1.ReasonProtected, "host host-a"},
		},
	}, {
		name:     "an Embedded vcluster on a silent host says it will not fail over",
		o:        observed{controlPlane: &controlPlaneReport{current: true, phase: fleetv1.ControlPlaneRunning, kubeconfigIssued: true, hostSilent: 30 * time.Second}},
		phase:    fleetv1.PhaseProvisioning,
		endpoint: "",
		conditions: map[string]*wantCondition{
			fleetv1.ConditionFailover: {metav1.ConditionFalse, fleetv1.ReasonEmbeddedStore, "host host-a has not renewed its Lease for 30s; not failed over"},
		},
	}, {
		name:     "a manual vcluster fails over only when asked",
		external: true,
		vc:       func(vc *fleetv1.VirtualCluster) { vc.Spec.Failover.Mode = fleetv1.FailoverManual },
		o:        observed{controlPlane: &running},
		phase:    fleetv1.PhaseReady,
		endpoint: "https://10.0.0.1:6443",
		conditions: map[string]*wantCondition{
			fleetv1.ConditionFailover: {metav1.ConditionTrue, fleetv1.ReasonManualFailover, "vfleet failover web"},
		},
		events: []string{"Normal Ready"},
	}, {
		name:     "an External vcluster that moved tells the move until it is Ready",
		external: true,
		vc:       withCondition(metav1.Condition{Type: fleetv1.ConditionFailover, Status: metav1.ConditionFalse, Reason: fleetv1.ReasonFailingOver, Message: "Failover from host host-z"}),
		o:        observed{controlPlane: &controlPlaneReport{current: true, phase: fleetv1.ControlPlaneStarting}},
		phase:    fleetv1.PhaseProvisioning,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionFailover: {metav1.ConditionFalse, fleetv1.ReasonFailingOver, "Failover from host host-z"},
		},
	}, {
		name:     "a failover completes once Ready on the new host",
		external: true,
		vc: all(inProgress(fleetv1.OperationFailover),
			withCondition(metav1.Condition{Type: fleetv1.ConditionFailover, Status: metav1.ConditionFalse, Reason: fleetv1.ReasonFailingOver, Message: "moving"})),
		o:        observed{controlPlane: &running},
		phase:    fleetv1.PhaseReady,
		endpoint: "https://10.0.0.1:6443",
		conditions: map[string]*wantCondition{
			fleetv1.ConditionFailover: {metav1.ConditionTrue, fleetv1.ReasonProtected, "host host-a"},
		},
		operation: &fleetv1.OperationStatus{Phase: fleetv1.OperationSucceeded, Message: "moved from host host-z to host host-a at epoch 2 in 2.5s"},
		events:    []string{"Normal Ready", "Normal FailedOver: moved from host host-z to host host-a at epoch 2 in 2.5s"},
	}, {
		name:      "a migration completes as Migrated",
		external:  true,
		vc:        inProgress(fleetv1.OperationMigration),
		o:         observed{controlPlane: &running},
		phase:     fleetv1.PhaseReady,
		endpoint:  "https://10.0.0.1:6443",
		operation: &fleetv1.OperationStatus{Phase: fleetv1.OperationSucceeded, Message: "moved from host host-z to host host-a"},
		events:    []string{"Normal Ready", "Normal Migrated: moved from host host-z"},
	}, {
		name:     "an operation is not done while the vcluster is not Ready",
		external: true,
		vc:       inProgress(fleetv1.OperationMigration),
		o:        observed{controlPlane: &controlPlaneReport{current: true, phase: fleetv1.ControlPlaneStarting}},
		phase:    fleetv1.PhaseProvisioning,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionFailover: {metav1.ConditionTrue, fleetv1.ReasonProtected, ""},
		},
		operation: &fleetv1.OperationStatus{Phase: fleetv1.OperationInProgress, Message: "started"},
	}, {
		name:  "deleting while the agents clean up",
		vc:    func(vc *fleetv1.VirtualCluster) { vc.Status.Phase = fleetv1.PhaseReady },
		o:     observed{deleting: true},
		phase: fleetv1.PhaseDeleting,
		conditions: map[string]*wantCondition{
			fleetv1.ConditionReady: {metav1.ConditionFalse, "Deleting", "removing the control plane"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vc := placedVC(tt.external, tt.vc)
			read := vc.DeepCopy()
			got := computeStatus(vc, tt.o, t0)

			if !equality.Semantic.DeepEqual(vc, read) {
				t.Fatal("computeStatus changed the vcluster it was given")
			}
			if got.Phase != tt.phase {
				t.Errorf("phase %q, want %q", got.Phase, tt.phase)
			}
			if got.Endpoint != tt.endpoint {
				t.Errorf("endpoint %q, want %q", got.Endpoint, tt.endpoint)
			}
			for typ, want := range tt.conditions {
				checkCondition(t, got.Conditions, typ, want)
			}
			if want := tt.operation; want != nil {
				op := got.Operation
				if op == nil || op.Phase != want.Phase || !strings.Contains(op.Message, want.Message) {
					t.Errorf("operation %+v, want phase %s, message with %q", op, want.Phase, want.Message)
				}
			}
			// A decision is written by its own locked patch, never by this one.
			if got.Host != read.Status.Host || got.Epoch != read.Status.Epoch || got.FencedEpoch != read.Status.FencedEpoch ||
				!equality.Semantic.DeepEqual(got.PlacementHistory, read.Status.PlacementHistory) {
				t.Errorf("changed a decision: host %s epoch %d fenced %d history %v", got.Host, got.Epoch, got.FencedEpoch, got.PlacementHistory)
			}
			checkEvents(t, statusEvents(&read.Status, &got, tt.o), tt.events)

			// Level-triggered: the same observation a second time, later,
			// changes nothing and tells nothing.
			vc.Status = got
			again := computeStatus(vc, tt.o, t0.Add(time.Minute))
			if !equality.Semantic.DeepEqual(again, got) {
				t.Errorf("a second reconcile changes the status:\n%+v\nwas\n%+v", again, got)
			}
			if evs := statusEvents(&got, &again, tt.o); len(evs) != 0 {
				t.Errorf("a second reconcile tells %v again", evs)
			}
		})
	}
}

// TestComputeStatusDatesTransitionsByItsClock: a condition whose status
// changes dates from the time given, one that keeps its status keeps its
// date.
func TestComputeStatusDatesTransitionsByItsClock(t *testing.T) {
	vc := placedVC(false, nil)
	got := computeStatus(vc, observed{unscheduled: &unscheduled{reason: fleetv1.ReasonUnschedulable, message: "no"}}, t0)
	if c := meta.FindStatusCondition(got.Conditions, fleetv1.ConditionScheduled); c == nil || !c.LastTransitionTime.Time.Equal(t0) {
		t.Fatalf("Scheduled %+v, want a transition at %s", c, t0)
	}
	vc.Status = got
	got = computeStatus(vc, observed{unscheduled: &unscheduled{reason: fleetv1.ReasonInvalidPlacement, message: "other"}}, t0.Add(time.Hour))
	if c := meta.FindStatusCondition(got.Conditions, fleetv1.ConditionScheduled); c == nil || !c.LastTransitionTime.Time.Equal(t0) || c.Message != "other" {
		t.Fatalf("Scheduled %+v, want the message changed and the transition still at %s", c, t0)
	}
}

func TestPlacedStatus(t *testing.T) {
	vc := placedVC(false, func(vc *fleetv1.VirtualCluster) {
		vc.Status = fleetv1.VirtualClusterStatus{Phase: fleetv1.PhasePending}
	})
	got := placedStatus(vc, "host-b", t0)
	if got.Host != "host-b" || got.Epoch != 1 || got.FencedEpoch != 0 || got.Phase != fleetv1.PhaseScheduled || got.ObservedGeneration != 3 {
		t.Fatalf("status %+v", got)
	}
	if want := []fleetv1.PlacementRecord{{Host: "host-b", Epoch: 1, Time: metav1.NewTime(t0), Reason: fleetv1.PlacementInitial}}; !equality.Semantic.DeepEqual(got.PlacementHistory, want) {
		t.Fatalf("history %+v", got.PlacementHistory)
	}
	checkCondition(t, got.Conditions, fleetv1.ConditionScheduled, &wantCondition{metav1.ConditionTrue, fleetv1.ReasonPlaced, "placed on host host-b at epoch 1"})
	if vc.Status.Host != "" {
		t.Fatal("placedStatus changed the vcluster it was given")
	}
}

func TestReplacedStatus(t *testing.T) {
	failed := &fleetv1.OperationStatus{ID: "op-1", Type: fleetv1.OperationMigration, From: "host-a", Phase: fleetv1.OperationFailed, Message: "no room elsewhere"}
	tests := []struct {
		name      string
		vc        func(*fleetv1.VirtualCluster)
		reason    string
		op        *fleetv1.OperationStatus
		operation *fleetv1.OperationStatus
	}{{
		name:   "a failover of a lost host",
		reason: fleetv1.PlacementFailover,
	}, {
		name:      "a migration in progress says it starts the control plane",
		vc:        inProgress(fleetv1.OperationMigration),
		reason:    fleetv1.PlacementMigration,
		op:        &fleetv1.OperationStatus{ID: "op-1", Type: fleetv1.OperationMigration, From: "host-a", Phase: fleetv1.OperationInProgress},
		operation: &fleetv1.OperationStatus{Phase: fleetv1.OperationInProgress, Message: "Migration from host host-a to host host-b at epoch 3; starting the control plane"},
	}, {
		name:      "a migration with no room elsewhere is recorded as failed",
		vc:        inProgress(fleetv1.OperationMigration),
		reason:    fleetv1.PlacementMigration,
		op:        failed,
		operation: &fleetv1.OperationStatus{Phase: fleetv1.OperationFailed, Message: "no room elsewhere"},
	}, {
		name:   "an operation this move does not carry out is left alone",
		vc:     inProgress(fleetv1.OperationFailover),
		reason: fleetv1.PlacementFailover,
		// The operation moved the vcluster from host-z, not from host-a.
		operation: &fleetv1.OperationStatus{Phase: fleetv1.OperationInProgress, Message: "started"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vc := placedVC(true, all(func(vc *fleetv1.VirtualCluster) {
				vc.Status.Endpoint, vc.Status.FencedEpoch = "https://old", 2
			}, optional(tt.vc)))
			read := vc.DeepCopy()
			got, msg := replacedStatus(vc, "host-b", tt.reason, tt.op, t0)
			if !equality.Semantic.DeepEqual(vc, read) {
				t.Fatal("replacedStatus changed the vcluster it was given")
			}
			if got.Host != "host-b" || got.Epoch != 3 || got.FencedEpoch != 2 || got.Phase != fleetv1.PhaseScheduled || got.Endpoint != "" {
				t.Fatalf("status %+v", got)
			}
			if want := fmt.Sprintf("%s from host host-a to host host-b at epoch 3", tt.reason); msg != want {
				t.Errorf("message %q, want %q", msg, want)
			}
			last := got.PlacementHistory[len(got.PlacementHistory)-1]
			if last.Host != "host-b" || last.Epoch != 3 || last.Reason != tt.reason || len(got.PlacementHistory) != 3 {
				t.Errorf("history %+v", got.PlacementHistory)
			}
			checkCondition(t, got.Conditions, fleetv1.ConditionScheduled, &wantCondition{metav1.ConditionTrue, fleetv1.ReasonPlaced, "placed on host host-b at epoch 3 (" + tt.reason + " from host-a)"})
			checkCondition(t, got.Conditions, fleetv1.ConditionFailover, &wantCondition{metav1.ConditionFalse, fleetv1.ReasonFailingOver, msg + "; starting the control plane"})
			if want := tt.operation; want == nil && got.Operation != nil {
				t.Errorf("operation %+v, want none", got.Operation)
			} else if want != nil && (got.Operation == nil || got.Operation.Phase != want.Phase || !strings.Contains(got.Operation.Message, want.Message)) {
				t.Errorf("operation %+v, want phase %s, message with %q", got.Operation, want.Phase, want.Message)
			}
		})
	}
}

func TestPlacementHistoryKeepsTheLatest(t *testing.T) {
	vc := placedVC(true, func(vc *fleetv1.VirtualCluster) {
		vc.Status.PlacementHistory = nil
		for i := range maxHistory {
			vc.Status.PlacementHistory = append(vc.Status.PlacementHistory, fleetv1.PlacementRecord{Host: "h", Epoch: int64(i + 1)})
		}
		vc.Status.Epoch = maxHistory
	})
	got, _ := replacedStatus(vc, "host-b", fleetv1.PlacementFailover, nil, t0)
	if n := len(got.PlacementHistory); n != maxHistory || got.PlacementHistory[0].Epoch != 2 || got.PlacementHistory[n-1].Epoch != maxHistory+1 {
		t.Fatalf("history %+v", got.PlacementHistory)
	}
	if len(vc.Status.PlacementHistory) != maxHistory || vc.Status.PlacementHistory[0].Epoch != 1 {
		t.Fatal("replacedStatus changed the history it was given")
	}
}

func TestFencedStatus(t *testing.T) {
	for _, op := range []bool{false, true} {
		vc := placedVC(true, nil)
		if op {
			inProgress(fleetv1.OperationFailover)(vc)
		}
		got, msg := fencedStatus(vc, "host host-a has not renewed its Lease for 20s", t0)
		if want := "host host-a has not renewed its Lease for 20s: epoch 2 on host host-a is fenced (its store credentials are revoked); placing the vcluster again"; msg != want {
			t.Errorf("message %q, want %q", msg, want)
		}
		if got.FencedEpoch != 2 || got.Epoch != 2 || got.Host != "host-a" || got.Phase != fleetv1.PhaseFailingOver {
			t.Errorf("status %+v", got)
		}
		checkCondition(t, got.Conditions, fleetv1.ConditionFailover, &wantCondition{metav1.ConditionFalse, fleetv1.ReasonFenced, msg})
		checkCondition(t, got.Conditions, fleetv1.ConditionReady, &wantCondition{metav1.ConditionFalse, fleetv1.ReasonFailingOver, msg})
		if op && got.Operation.Message != msg {
			t.Errorf("operation message %q, want %q", got.Operation.Message, msg)
		}
		if vc.Status.FencedEpoch != 1 {
			t.Error("fencedStatus changed the vcluster it was given")
		}
	}
}

func optional(f func(*fleetv1.VirtualCluster)) func(*fleetv1.VirtualCluster) {
	if f == nil {
		return func(*fleetv1.VirtualCluster) {}
	}
	return f
}

func checkCondition(t *testing.T, conds []metav1.Condition, typ string, want *wantCondition) {
	t.Helper()
	c := meta.FindStatusCondition(conds, typ)
	switch {
	case want == nil && c != nil:
		t.Errorf("condition %s %+v, want none", typ, c)
	case want == nil:
	case c == nil:
		t.Errorf("no condition %s, want %s %s", typ, want.status, want.reason)
	case c.Status != want.status || c.Reason != want.reason || !strings.Contains(c.Message, want.message):
		t.Errorf("condition %s: %s %s %q, want %s %s with %q", typ, c.Status, c.Reason, c.Message, want.status, want.reason, want.message)
	}
}

// checkEvents compares events with want, each "Type Reason" or
// "Type Reason: a substring of the note".
func checkEvents(t *testing.T, got []statusEvent, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("events %+v, want %q", got, want)
	}
	for i, e := range got {
		head, note, _ := strings.Cut(want[i], ": ")
		if e.eventType+" "+e.reason != head || !strings.Contains(e.note, note) {
			t.Errorf("event %s %s: %q, want %q", e.eventType, e.reason, e.note, want[i])
		}
	}
}
