package virtualcluster

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/placement"
)

// A VirtualCluster's status is written in two ways.
//
// Decisions the next step depends on (a placement with its epoch, the
// fence of an epoch, the start of an operation) are written at once, each
// by a patch with an optimistic lock, from placedStatus, replacedStatus,
// fencedStatus. They are the only writes of status.host, status.epoch,
// status.fencedEpoch and status.placementHistory.
//
// Everything else a reconcile finds out goes into an observed, and
// computeStatus turns it into the status of the one patch written when the
// reconcile ends. computeStatus never changes host, epoch, fencedEpoch or
// placementHistory, so that patch cannot undo a decision.

// observed is what one reconcile saw, for the status. A part left empty
// leaves its share of the status as it was: the reconcile did not get that
// far, or had nothing to say about it.
type observed struct {
	// admission is whether the vcluster's class admits its spec.
	admission *admission
	// unscheduled says why placement found no host.
	unscheduled *unscheduled
	// reservation says whether the host holds what the spec asks for.
	reservation *reservation
	// moveStep is the step of a move the vcluster waits in.
	moveStep *moveStep
	// provisioningFailed says why the ControlPlane could not be made.
	provisioningFailed string
	// controlPlane is what the host's agent reports of the placement.
	controlPlane *controlPlaneReport
	// deleting is set while the agents still clean up after the vcluster.
	deleting bool
	// elsewhere is the region that runs the vcluster instead of this one,
	// and why.
	elsewhere *elsewhereStatus
}

type elsewhereStatus struct {
	region string
	// spilled: this region had no room; else it took the vcluster over.
	spilled bool
}

type unscheduled struct {
	reason, message string
}

// reservation is whether a placed vcluster's host holds its spec's
// resources, and if not, why.
type reservation struct {
	held bool
	// reason is why it is not held: InsufficientCapacity unless set.
	reason, message string
}

// admission is the verdict of the vcluster's class on its spec.
type admission struct {
	admitted        bool
	reason, message string
}

// admissionOf is the admission a class check's error means; nil when the
// check could not be made.
func admissionOf(err error) *admission {
	var refused *classError
	switch {
	case err == nil:
		return &admission{admitted: true, reason: fleetv1.ReasonWithinClass, message: "the spec is within its VirtualClusterClass"}
	case errors.As(err, &refused):
		return &admission{reason: refused.reason, message: refused.message}
	}
	return nil
}

// moveStep is a step of a move, told in the Failover condition.
type moveStep struct {
	reason, message string
	// eventType is the type of the event that tells the step.
	eventType string
}

// controlPlaneReport is what the vcluster's ControlPlane, its host's Lease
// and the kubeconfig Secret said.
type controlPlaneReport struct {
	// current is whether the agent reports on the ControlPlane's present
	// spec, at the vcluster's epoch.
	current bool
	phase   fleetv1.ControlPlanePhase
	// message is that of the ControlPlane's Ready condition.
	message  string
	endpoint string
	// gateway is the region's, through which tenants reach endpoint.
	gateway Gateway
	// kubeconfigIssued is whether the tenant's kubeconfig Secret holds the
	// kubeconfig the agent published.
	kubeconfigIssued bool
	// hostSilent is how long the host's agent has not renewed its Lease;
	// zero while it is current.
	hostSilent time.Duration
}

// computeStatus is vc's status once what o observed is in it, as of now.
func computeStatus(vc *fleetv1.VirtualCluster, o observed, now time.Time) fleetv1.VirtualClusterStatus {
	s := *vc.Status.DeepCopy()
	gen := vc.Generation
	if a := o.admission; a != nil {
		c := metav1.Condition{Type: fleetv1.ConditionAdmitted, Status: metav1.ConditionTrue, Reason: a.reason, Message: a.message, ObservedGeneration: gen}
		if !a.admitted {
			c.Status = metav1.ConditionFalse
			if vc.Status.Host != "" {
				c.Message += "; until then the vcluster keeps running as it was admitted"
			}
		}
		setCondition(&s.Conditions, now, c)
	}
	if rv := o.reservation; rv != nil {
		c := metav1.Condition{Type: fleetv1.ConditionResourcesReserved, Status: metav1.ConditionTrue, Reason: fleetv1.ReasonReserved,
			Message: "the host holds the resources the spec asks for", ObservedGeneration: gen}
		if !rv.held {
			c.Status, c.Reason, c.Message = metav1.ConditionFalse, fleetv1.ReasonInsufficientCapacity, rv.message
			if rv.reason != "" {
				c.Reason = rv.reason
			}
		}
		setCondition(&s.Conditions, now, c)
	}
	if u := o.unscheduled; u != nil {
		s.Phase = fleetv1.PhasePending
		s.ObservedGeneration = gen
		setCondition(&s.Conditions, now, metav1.Condition{
			Type: fleetv1.ConditionScheduled, Status: metav1.ConditionFalse, Reason: u.reason, Message: u.message, ObservedGeneration: gen,
		})
	}
	if m := o.moveStep; m != nil {
		setCondition(&s.Conditions, now, metav1.Condition{
			Type: fleetv1.ConditionFailover, Status: metav1.ConditionFalse, Reason: m.reason, Message: m.message, ObservedGeneration: gen,
		})
		s.Phase = fleetv1.PhaseFailingOver
		if op := s.Operation; op != nil && op.Phase == fleetv1.OperationInProgress {
			op.Message = m.message
		}
	}
	if o.provisioningFailed != "" {
		setCondition(&s.Conditions, now, metav1.Condition{
			Type: fleetv1.ConditionProvisioned, Status: metav1.ConditionFalse, Reason: fleetv1.ReasonProvisioningFailed,
			Message: o.provisioningFailed, ObservedGeneration: gen,
		})
	}
	if o.controlPlane != nil {
		reportControlPlane(&s, vc, *o.controlPlane, now)
	}
	if e := o.elsewhere; e != nil {
		s.Phase = fleetv1.PhaseElsewhere
		// Another region's gateway routes it: this one knows it not.
		s.Gateway = nil
		cond := metav1.Condition{
			Type: fleetv1.ConditionReady, Status: metav1.ConditionFalse, ObservedGeneration: gen, Reason: fleetv1.ReasonTakenOver,
			Message: fmt.Sprintf("region %s took this vcluster over while this region was lost, and runs it now: this copy is retired (its control planes stop, its store is region %s's)", e.region, e.region),
		}
		if e.spilled {
			cond.Reason = fleetv1.ReasonSpilled
			cond.Message = fmt.Sprintf("no host of this region has room: region %s of the federation runs this vcluster (its VirtualCluster there has its kubeconfig); this copy runs nothing", e.region)
		}
		setCondition(&s.Conditions, now, cond)
	}
	if o.deleting {
		s.Phase = fleetv1.PhaseDeleting
		setCondition(&s.Conditions, now, metav1.Condition{
			Type: fleetv1.ConditionReady, Status: metav1.ConditionFalse, ObservedGeneration: gen,
			Reason:  fleetv1.ReasonDeleting,
			Message: "the host's agent is removing the control plane, its data and its host namespace",
		})
	}
	traceDone(&s)
	return s
}

// reportControlPlane carries the ControlPlane's state up into s: the
// phase, the Provisioned, Ready and Failover conditions, the endpoint and
// the kubeconfig Secret, and the end of an operation.
func reportControlPlane(s *fleetv1.VirtualClusterStatus, vc *fleetv1.VirtualCluster, cp controlPlaneReport, now time.Time) {
	gen := vc.Generation
	s.ObservedGeneration = gen
	provisioned := metav1.Condition{Type: fleetv1.ConditionProvisioned, Status: metav1.ConditionFalse, ObservedGeneration: gen}
	ready := metav1.Condition{Type: fleetv1.ConditionReady, Status: metav1.ConditionFalse, ObservedGeneration: gen}
	routed := ""
	asked := false
	switch {
	case !cp.current || cp.phase == "":
		s.Phase = fleetv1.PhaseScheduled
		provisioned.Reason = fleetv1.ReasonWaitingForAgent
		provisioned.Message = fmt.Sprintf("waiting for the agent of host %s to take up epoch %d", s.Host, s.Epoch)
	case cp.phase == fleetv1.ControlPlaneFailed:
		s.Phase = fleetv1.PhaseFailed
		provisioned.Reason = fleetv1.ReasonControlPlaneFailed
		provisioned.Message = fmt.Sprintf("the control plane on host %s failed to start: %s", s.Host, cp.message)
	case cp.phase == fleetv1.ControlPlaneSleeping:
		s.Phase = fleetv1.PhaseSleeping
		provisioned.Reason, provisioned.Message = fleetv1.ReasonSleeping, cp.message
		// Not a migration's stop on the old host: the tenant asked.
		asked = sleepAsked(vc)
	case cp.phase == fleetv1.ControlPlaneRunning:
		provisioned.Status, provisioned.Reason = metav1.ConditionTrue, fleetv1.ReasonControlPlaneRunning
		provisioned.Message = fmt.Sprintf("the control plane runs on host %s at %s", s.Host, cp.endpoint)
		s.Endpoint = cp.endpoint
		if cp.gateway.Enabled() {
			s.Endpoint = cp.gateway.URL()
		}
		routed = cp.endpoint
		if cp.kubeconfigIssued {
			s.Phase = fleetv1.PhaseReady
			s.KubeconfigSecret = KubeconfigSecretName(vc)
			ready.Status, ready.Reason = metav1.ConditionTrue, fleetv1.ReasonKubeconfigIssued
			ready.Message = fmt.Sprintf("kubeconfig in Secret %s, key %s", s.KubeconfigSecret, fleetv1.KubeconfigKey)
		} else {
			s.Phase = fleetv1.PhaseProvisioning
		}
	default:
		s.Phase = fleetv1.PhaseProvisioning
		provisioned.Reason = fleetv1.ReasonControlPlaneStarting
		provisioned.Message = fmt.Sprintf("the control plane is starting on host %s: %s", s.Host, cp.message)
	}
	// Anything but the current epoch running (starting, asleep, failed)
	// leaves the gateway holding connections.
	cp.gateway.routeTo(s, vc, routed)
	// A sleep asked for is recorded once the control plane has stopped;
	// an Inactive one is the hub's decision (reconcileSleep), kept here.
	switch {
	case asked && (s.Sleep == nil || s.Sleep.Reason != fleetv1.SleepAsked):
		s.Sleep = &fleetv1.SleepStatus{Since: metav1.NewTime(now), Reason: fleetv1.SleepAsked}
	case !sleepAsked(vc) && s.Sleep != nil && s.Sleep.Reason == fleetv1.SleepAsked:
		s.Sleep = nil
	}
	if ready.Reason == "" {
		ready.Reason, ready.Message = provisioned.Reason, provisioned.Message
	}
	if cp.hostSilent > 0 {
		// What the agent last reported is stale.
		ready.Status, ready.Reason = metav1.ConditionFalse, fleetv1.ReasonHostUnreachable
		ready.Message = fmt.Sprintf("host %s has not renewed its Lease for %s", s.Host, cp.hostSilent.Round(time.Second))
		if s.Phase == fleetv1.PhaseReady {
			s.Phase = fleetv1.PhaseProvisioning
		}
	}
	setCondition(&s.Conditions, now, provisioned)
	setCondition(&s.Conditions, now, ready)
	completeOperation(s, now)
	// Until an External vcluster that moved is Ready again, the Failover
	// condition tells the move; otherwise it says what a loss would do.
	external := vc.Spec.BackingStore.Type == fleetv1.BackingStoreExternal
	moving := external && s.Phase != fleetv1.PhaseReady && meta.FindStatusCondition(s.Conditions, fleetv1.ConditionFailover) != nil
	if !moving {
		fc := failoverCondition(vc)
		if cp.hostSilent > 0 && !external {
			fc.Message = ready.Message + "; " + fc.Message
		}
		setCondition(&s.Conditions, now, fc)
	}
}

// completeOperation marks the operation in progress done once the vcluster
// is Ready on its new host.
func completeOperation(s *fleetv1.VirtualClusterStatus, now time.Time) {
	op := s.Operation
	if op == nil || op.Phase != fleetv1.OperationInProgress || op.From == s.Host || s.Phase != fleetv1.PhaseReady {
		return
	}
	op.Phase, op.CompletionTime = fleetv1.OperationSucceeded, ptrTime(now)
	took := ""
	if op.StartTime != nil {
		took = " in " + now.Sub(op.StartTime.Time).Round(100*time.Millisecond).String()
	}
	op.Message = fmt.Sprintf("moved from host %s to host %s at epoch %d%s", op.From, s.Host, s.Epoch, took)
}

// failoverCondition is the Failover condition of a vcluster that is not
// moving: whether, and how, it would come back if its host were lost.
func failoverCondition(vc *fleetv1.VirtualCluster) metav1.Condition {
	c := metav1.Condition{Type: fleetv1.ConditionFailover, ObservedGeneration: vc.Generation}
	switch {
	case vc.Spec.BackingStore.Type != fleetv1.BackingStoreExternal:
		c.Status, c.Reason = metav1.ConditionFalse, fleetv1.ReasonEmbeddedStore
		c.Message = fmt.Sprintf("not failed over: its state is in SQLite on host %s (backingStore Embedded), so it comes back only with that host; use an External backing store to survive the host's loss", vc.Status.Host)
	case vc.Spec.Failover.Mode == fleetv1.FailoverManual:
		c.Status, c.Reason = metav1.ConditionTrue, fleetv1.ReasonManualFailover
		c.Message = "fails over only when asked: vfleet failover " + vc.Name
	default:
		c.Status, c.Reason = metav1.ConditionTrue, fleetv1.ReasonProtected
		c.Message = fmt.Sprintf("fails over to another host once host %s has been silent for %ds", vc.Status.Host, int(placement.FailoverAfter(vc)/time.Second))
	}
	return c
}

// statusEvent is an event that tells a change of status.
type statusEvent struct {
	eventType, reason, action, note string
}

// statusEvents are the events that tell what changed from before to after
// because of o: each is news once, not again on the next reconcile.
func statusEvents(before, after *fleetv1.VirtualClusterStatus, o observed) []statusEvent {
	var evs []statusEvent
	if u := o.unscheduled; u != nil {
		prev := meta.FindStatusCondition(before.Conditions, fleetv1.ConditionScheduled)
		if prev == nil || prev.Status != metav1.ConditionFalse || prev.Reason != u.reason || prev.Message != u.message || before.Phase != fleetv1.PhasePending {
			evs = append(evs, statusEvent{corev1.EventTypeWarning, "FailedScheduling", "Place", u.message})
		}
	}
	if m := o.moveStep; m != nil {
		prev := meta.FindStatusCondition(before.Conditions, fleetv1.ConditionFailover)
		if prev == nil || prev.Status != metav1.ConditionFalse || prev.Reason != m.reason || prev.Message != m.message {
			evs = append(evs, statusEvent{m.eventType, m.reason, "Failover", m.message})
		}
	}
	if o.provisioningFailed != "" {
		prev := meta.FindStatusCondition(before.Conditions, fleetv1.ConditionProvisioned)
		if prev == nil || prev.Reason != fleetv1.ReasonProvisioningFailed || prev.Message != o.provisioningFailed {
			evs = append(evs, statusEvent{corev1.EventTypeWarning, fleetv1.ReasonProvisioningFailed, "Provision", o.provisioningFailed})
		}
	}
	if o.controlPlane != nil {
		evs = append(evs, controlPlaneEvents(before, after)...)
	}
	return evs
}

// controlPlaneEvents tell a vcluster that became Failed or Ready, and an
// operation that completed.
func controlPlaneEvents(before, after *fleetv1.VirtualClusterStatus) []statusEvent {
	var evs []statusEvent
	switch {
	case after.Phase == fleetv1.PhaseFailed && before.Phase != fleetv1.PhaseFailed:
		evs = append(evs, statusEvent{corev1.EventTypeWarning, fleetv1.ReasonControlPlaneFailed, "Provision", conditionMessage(after, fleetv1.ConditionProvisioned)})
	case after.Phase == fleetv1.PhaseReady && before.Phase != fleetv1.PhaseReady:
		evs = append(evs, statusEvent{corev1.EventTypeNormal, "Ready", "Provision",
			fmt.Sprintf("ready at %s; %s", after.Endpoint, conditionMessage(after, fleetv1.ConditionReady))})
	}
	was, op := before.Operation, after.Operation
	if was != nil && op != nil && was.ID == op.ID && was.Phase == fleetv1.OperationInProgress && op.Phase == fleetv1.OperationSucceeded {
		reason := fleetv1.ReasonFailedOver
		if op.Type == fleetv1.OperationMigration {
			reason = fleetv1.ReasonMigrated
		}
		evs = append(evs, statusEvent{corev1.EventTypeNormal, reason, string(op.Type), op.Message})
	}
	return evs
}

func conditionMessage(s *fleetv1.VirtualClusterStatus, condType string) string {
	if c := meta.FindStatusCondition(s.Conditions, condType); c != nil {
		return c.Message
	}
	return ""
}

// placedStatus is vc's status once placed on host for the first time, at
// the next epoch.
func placedStatus(vc *fleetv1.VirtualCluster, host string, now time.Time) fleetv1.VirtualClusterStatus {
	s := *vc.Status.DeepCopy()
	s.Host = host
	s.Epoch++
	s.FencedEpoch = 0
	s.Reserved = vc.Spec.Resources.DeepCopy()
	s.Phase = fleetv1.PhaseScheduled
	s.ObservedGeneration = vc.Generation
	s.PlacementHistory = appendPlacement(s.PlacementHistory, fleetv1.PlacementRecord{Host: host, Epoch: s.Epoch, Time: metav1.NewTime(now), Reason: fleetv1.PlacementInitial})
	setCondition(&s.Conditions, now, metav1.Condition{
		Type: fleetv1.ConditionScheduled, Status: metav1.ConditionTrue, Reason: fleetv1.ReasonPlaced, ObservedGeneration: vc.Generation,
		Message: fmt.Sprintf("placed on host %s at epoch %d", host, s.Epoch),
	})
	return s
}

// replacedStatus is vc's status once placed again, on host at the next
// epoch, for reason. op is the operation this move carries out, as it now
// stands, or nil; msg tells the move.
func replacedStatus(vc *fleetv1.VirtualCluster, host, reason string, op *fleetv1.OperationStatus, now time.Time) (s fleetv1.VirtualClusterStatus, msg string) {
	s = *vc.Status.DeepCopy()
	from := s.Host
	s.Host = host
	s.Epoch++
	s.Reserved = vc.Spec.Resources.DeepCopy()
	s.ReservationReleased = false
	s.Phase = fleetv1.PhaseScheduled
	s.Endpoint = ""
	unroute(&s)
	s.PlacementHistory = appendPlacement(s.PlacementHistory, fleetv1.PlacementRecord{Host: host, Epoch: s.Epoch, Time: metav1.NewTime(now), Reason: reason})
	msg = fmt.Sprintf("%s from host %s to host %s at epoch %d", reason, from, host, s.Epoch)
	setCondition(&s.Conditions, now, metav1.Condition{
		Type: fleetv1.ConditionScheduled, Status: metav1.ConditionTrue, Reason: fleetv1.ReasonPlaced, ObservedGeneration: vc.Generation,
		Message: fmt.Sprintf("placed on host %s at epoch %d (%s from %s)", host, s.Epoch, reason, from),
	})
	setCondition(&s.Conditions, now, metav1.Condition{
		Type: fleetv1.ConditionFailover, Status: metav1.ConditionFalse, Reason: fleetv1.ReasonFailingOver, ObservedGeneration: vc.Generation,
		Message: msg + "; starting the control plane",
	})
	if op != nil {
		s.Operation = op.DeepCopy()
		if s.Operation.Phase == fleetv1.OperationInProgress {
			s.Operation.Message = msg + "; starting the control plane"
		}
	}
	return s, msg
}

// fencedStatus is vc's status once its current epoch is fenced; msg tells
// why and what follows.
func fencedStatus(vc *fleetv1.VirtualCluster, why string, now time.Time) (s fleetv1.VirtualClusterStatus, msg string) {
	s = *vc.Status.DeepCopy()
	s.FencedEpoch = s.Epoch
	s.Phase = fleetv1.PhaseFailingOver
	msg = fmt.Sprintf("%s: epoch %d on host %s is fenced (its store credentials are revoked); placing the vcluster again", why, s.Epoch, s.Host)
	setCondition(&s.Conditions, now, metav1.Condition{
		Type: fleetv1.ConditionFailover, Status: metav1.ConditionFalse, Reason: fleetv1.ReasonFenced, Message: msg, ObservedGeneration: vc.Generation,
	})
	setCondition(&s.Conditions, now, metav1.Condition{
		Type: fleetv1.ConditionReady, Status: metav1.ConditionFalse, Reason: fleetv1.ReasonFailingOver, Message: msg, ObservedGeneration: vc.Generation,
	})
	if op := s.Operation; op != nil && op.Phase == fleetv1.OperationInProgress {
		op.Message = msg
	}
	return s, msg
}

// appendPlacement adds p to the history, keeping the latest maxHistory.
func appendPlacement(history []fleetv1.PlacementRecord, p fleetv1.PlacementRecord) []fleetv1.PlacementRecord {
	history = append(history, p)
	if n := len(history); n > maxHistory {
		history = history[n-maxHistory:]
	}
	return history
}

// setCondition sets c in conds; a change of its status dates from now.
func setCondition(conds *[]metav1.Condition, now time.Time, c metav1.Condition) {
	c.LastTransitionTime = metav1.NewTime(now)
	meta.SetStatusCondition(conds, c)
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}
