package virtualcluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/placement"
)

// A vcluster moves in three level-triggered steps, each recorded in its
// status before the next, so that a hub that restarts half-way picks up
// where it was:
//
//  1. decide: the host has been silent for failover.afterSeconds, or a
//     person asked (status.operation). A migration first puts the old
//     control plane to sleep, and waits until it has stopped.
//  2. fence: status.fencingEpoch = epoch, so that the fence is carried
//     through once begun; the BackingStore revokes the current epoch's
//     credentials and ends its sessions; then status.fencedEpoch = epoch.
//     Nothing of the next epoch exists before this is recorded.
//  3. replace: placement chooses another host; status.host and epoch+1 are
//     recorded together; the usual path creates the new ControlPlane (and
//     the new epoch's login) and retires the old one.

// reconcileMove runs the steps above. It returns done when the vcluster is
// in the middle of a move and the usual path must wait, and a requeue for
// when its silent host becomes due.
func (r *Reconciler) reconcileMove(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed) (ctrl.Result, bool, error) {
	if vc.Status.FencedEpoch >= vc.Status.Epoch {
		return r.replace(ctx, vc, o)
	}
	// A fence once begun is carried through: the epoch's credentials may
	// be revoked already, though its end was never recorded (a conflict,
	// a hub restart), and what began it may have passed since.
	if vc.Status.FencingEpoch == vc.Status.Epoch {
		return ctrl.Result{}, true, r.fence(ctx, vc, o, fenceResumed, fmt.Sprintf("the fence of epoch %d, begun earlier, is carried through", vc.Status.Epoch))
	}
	if started, err := r.startOperation(ctx, vc); err != nil || started {
		return ctrl.Result{}, true, err
	}
	if op := vc.Status.Operation; op != nil && op.Phase == fleetv1.OperationInProgress && op.From == vc.Status.Host {
		if op.Type == fleetv1.OperationMigration {
			stopped, err := r.stopForMigration(ctx, vc, o)
			if err != nil || !stopped {
				return ctrl.Result{}, true, err
			}
		}
		return ctrl.Result{}, true, r.fence(ctx, vc, o, string(op.Type), fmt.Sprintf("%s asked (operation %s)", op.Type, op.ID))
	}
	if vc.Spec.BackingStore.Type != fleetv1.BackingStoreExternal || vc.Spec.Failover.Mode == fleetv1.FailoverManual {
		return ctrl.Result{}, false, nil
	}
	silent, err := r.silentFor(ctx, r.Client, vc.Status.Host)
	if err != nil || silent == 0 {
		return ctrl.Result{}, false, err
	}
	after := placement.FailoverAfter(vc)
	if silent >= after {
		// The cache lags behind a management API server that is slow to
		// send its watch events (a starved machine): before a fence,
		// which stops the vcluster, the Lease is read from the server.
		if silent, err = r.silentFor(ctx, r.reader(), vc.Status.Host); err != nil {
			return ctrl.Result{}, false, err
		}
	}
	if silent < after {
		// Looked at again when the delay has passed, counted from the
		// host's last heartbeat.
		return ctrl.Result{RequeueAfter: max(after-silent, time.Second)}, false, nil
	}
	why := fmt.Sprintf("host %s has not renewed its Lease for %s (failover.afterSeconds %d)",
		vc.Status.Host, silent.Round(time.Second), int(after/time.Second))
	return ctrl.Result{}, true, r.fence(ctx, vc, o, fenceHostSilent, why)
}

// silentFor is how long the host's agent has not renewed its Lease, or
// zero while its last renewal holds. Both are judged by the hub's clock,
// from when it saw the renewal (liveness): what the agent writes in its
// Lease can neither hasten nor hold off a failover. A host that left the
// fleet is silent for good. The Lease is read with c: the cache, or the
// server itself.
func (r *Reconciler) silentFor(ctx context.Context, c client.Reader, host string) (time.Duration, error) {
	if err := r.Client.Get(ctx, client.ObjectKey{Name: host}, &fleetv1.HostCluster{}); apierrors.IsNotFound(err) {
		return lostForGood, nil
	} else if err != nil {
		return 0, err
	}
	lease := &coordinationv1.Lease{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(host), Name: fleetv1.AgentLeaseName}, lease); err != nil {
		// No Lease: the agent never joined, so nothing ran there to lose.
		return 0, client.IgnoreNotFound(err)
	}
	now := r.Clock.Now()
	hb := r.Liveness.Observe(host, lease, now)
	if hb.Renewed.IsZero() || hb.AliveAt(now) {
		return 0, nil
	}
	return now.Sub(hb.Renewed), nil
}

// lostForGood is how long a host that left the fleet has been silent.
const lostForGood = time.Duration(1<<63 - 1)

// fence revokes the current epoch's store credentials and records it. Until
// it succeeds, no later epoch is made: a store that is down keeps the
// vcluster where it is, saying so. reason is why in one word, for metrics.
func (r *Reconciler) fence(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed, reason, why string) error {
	epoch := vc.Status.Epoch
	start := r.Clock.Now()
	if vc.Status.FencingEpoch != epoch {
		// Recorded before anything is revoked, over the status the fence
		// was decided from: from here on the fence is carried through,
		// whatever happens before its end is recorded (reconcileMove).
		// The move's trace begins with it.
		begun := *vc.Status.DeepCopy()
		begun.FencingEpoch = epoch
		// The gateway stops routing to the epoch with this write.
		unroute(&begun)
		begun.Trace = continueTrace(ctx, vc, traceOfFence(reason), epoch, r.moveStart(vc, reason, start))
		if err := r.writeDecision(ctx, vc, begun); err != nil {
			return err
		}
	}
	if err := r.revoke(ctx, vc, epoch); err != nil {
		recordSpan(ctx, vc, spanFence, start, r.Clock.Now(), err)
		msg := fmt.Sprintf("%s, but epoch %d's credentials cannot be revoked: %v; the vcluster does not start elsewhere until they are", why, epoch, err)
		o.moveStep = &moveStep{reason: fleetv1.ReasonFenceFailed, message: msg, eventType: corev1.EventTypeWarning}
		fences.WithLabelValues(reason, resultFailed).Inc()
		return fmt.Errorf("fence epoch %d: %w", epoch, err)
	}
	// status.fencedEpoch is written at once, in a write of its own, and
	// only over the status this fence was decided from (optimistic lock):
	// replace, which makes the next epoch, runs only once it reads it
	// back, so nothing of the next epoch exists before the fence is
	// recorded, and a reconcile that read an older status cannot record
	// a fence of an epoch the vcluster has already left.
	if err := r.fenced(ctx, vc, epoch); err != nil {
		o.moveStep = &moveStep{reason: ledgerReason(err), message: fmt.Sprintf("%s; %v", why, err), eventType: corev1.EventTypeWarning}
		return err
	}
	status, msg := fencedStatus(vc, why, r.Clock.Now())
	if err := r.writeDecision(ctx, vc, status); err != nil {
		return err
	}
	recordSpan(ctx, vc, spanFence, start, r.Clock.Now(), nil)
	fences.WithLabelValues(reason, resultFenced).Inc()
	ctrl.LoggerFrom(ctx).Info("Fenced", "virtualCluster", klog.KObj(vc), "host", vc.Status.Host, "epoch", epoch, "why", why)
	r.eventf(vc, corev1.EventTypeWarning, fleetv1.ReasonFenced, "Fence", "%s", msg)
	return nil
}

// revoke fences one epoch on the vcluster's BackingStore.
func (r *Reconciler) revoke(ctx context.Context, vc *fleetv1.VirtualCluster, epoch int64) error {
	admin, space, err := r.storeAdmin(ctx, vc)
	if err != nil {
		return err
	}
	return admin.Fence(ctx, space, epoch)
}

// replace places a fenced vcluster on another host at the next epoch.
func (r *Reconciler) replace(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed) (ctrl.Result, bool, error) {
	if !r.feeder.wait(ctx) {
		return ctrl.Result{}, true, ctx.Err()
	}
	req, err := r.requestFor(ctx, vc)
	if err != nil {
		return ctrl.Result{}, true, err
	}
	from := vc.Status.Host
	req.Exclude = map[string]bool{from: true}
	reason := fleetv1.PlacementFailover
	// op is the operation this move carries out, if any, as it will stand.
	op := vc.Status.Operation.DeepCopy()
	moving := op != nil && op.Phase == fleetv1.OperationInProgress && op.From == from
	if !moving {
		op = nil
	} else {
		req.Only = op.To
		reason = operationReason(vc, op)
	}
	kind := placementKind(reason)
	start := r.Clock.Now()
	host, err := timed(kind, func() (string, error) { return r.Engine.Schedule(req) })
	var unschedulable *placement.Unschedulable
	if errors.As(err, &unschedulable) && moving && op.Type == fleetv1.OperationMigration {
		// The old host is healthy: rather than stay down, come back there
		// at the next epoch.
		req.Exclude, req.Only = nil, ""
		host, err = r.Engine.Schedule(req)
		op.Phase, op.Message = fleetv1.OperationFailed, fmt.Sprintf("no room elsewhere: %s; the vcluster stays on %s", unschedulable.Error(), from)
		op.CompletionTime = ptrTime(r.Clock.Now())
	}
	if errors.As(err, &unschedulable) && !moving {
		// A failover that no other host of the region fits: another
		// region of the federation with room takes it over, from its
		// fenced epoch; or else, once its host is back, it comes back
		// there at the next epoch, the fenced one being dead.
		if r.spill(ctx, vc, o) {
			placements.WithLabelValues(kind, resultSpilled).Inc()
			return ctrl.Result{}, true, nil
		}
		if silent, serr := r.silentFor(ctx, r.Client, from); serr == nil && silent == 0 {
			req.Exclude = nil
			host, err = r.Engine.Schedule(req)
		}
	}
	if errors.As(err, &unschedulable) {
		msg := fmt.Sprintf("epoch %d on host %s is fenced, and no other host fits: %s", vc.Status.Epoch, from, unschedulable.Error())
		r.setPending(client.ObjectKeyFromObject(vc), true)
		countUnschedulable(kind, unschedulable)
		o.moveStep = &moveStep{reason: fleetv1.ReasonFailingOver, message: msg, eventType: corev1.EventTypeWarning}
		return ctrl.Result{}, true, nil
	}
	if err != nil {
		return ctrl.Result{}, true, err
	}
	r.setPending(client.ObjectKeyFromObject(vc), false)

	// status.host and epoch+1 are recorded together, in a write of their
	// own with the optimistic lock, before the usual path makes anything
	// of the new epoch (its ControlPlane, its store login): a reconcile
	// that read an older status gets a conflict rather than bump the
	// epoch twice.
	if err := r.advance(ctx, vc, host); err != nil {
		o.moveStep = &moveStep{reason: ledgerReason(err), message: err.Error(), eventType: corev1.EventTypeWarning}
		return ctrl.Result{}, true, err
	}
	status, msg := replacedStatus(vc, host, reason, op, r.Clock.Now())
	if err := r.writeDecision(ctx, vc, status); err != nil {
		return ctrl.Result{}, true, err
	}
	recordSpan(ctx, vc, spanPlace, start, r.Clock.Now(), nil)
	placements.WithLabelValues(kind, resultPlaced).Inc()
	ctrl.LoggerFrom(ctx).Info("Placed again", "virtualCluster", klog.KObj(vc), "from", from, "host", host, "epoch", vc.Status.Epoch, "reason", reason)
	r.eventf(vc, corev1.EventTypeNormal, fleetv1.ReasonPlaced, "Place", "%s", msg)
	// The usual path goes on from the new status: ControlPlane, store login.
	return ctrl.Result{}, false, nil
}

func operationReason(vc *fleetv1.VirtualCluster, op *fleetv1.OperationStatus) string {
	if r := vc.Annotations[fleetv1.AnnotationOperationReason]; r != "" && vc.Annotations[fleetv1.AnnotationOperationID] == op.ID {
		return r
	}
	if op.Type == fleetv1.OperationMigration {
		return fleetv1.PlacementMigration
	}
	return fleetv1.PlacementFailover
}

// startOperation takes up an operation the annotations ask for, once:
// checked first, so that a move that cannot succeed stops nothing.
func (r *Reconciler) startOperation(ctx context.Context, vc *fleetv1.VirtualCluster) (bool, error) {
	id := vc.Annotations[fleetv1.AnnotationOperationID]
	if id == "" || (vc.Status.Operation != nil && vc.Status.Operation.ID == id) {
		return false, nil
	}
	op := &fleetv1.OperationStatus{
		ID: id, Type: fleetv1.OperationType(vc.Annotations[fleetv1.AnnotationOperation]), To: vc.Annotations[fleetv1.AnnotationOperationTo],
		From: vc.Status.Host, Phase: fleetv1.OperationInProgress, StartTime: ptrTime(r.Clock.Now()),
	}
	if why := r.checkOperation(ctx, vc, op); why != "" {
		op.Phase, op.Message, op.CompletionTime = fleetv1.OperationFailed, why, op.StartTime
	} else {
		op.Message = fmt.Sprintf("%s from host %s started", op.Type, op.From)
	}
	// The operation names the host it moves the vcluster from, as read:
	// written at once, with the optimistic lock, so that it is taken up
	// only if that is still the vcluster's host, and before anything is
	// stopped or fenced for it (the next reconcile acts on it).
	status := *vc.Status.DeepCopy()
	status.Operation = op
	if err := r.writeDecision(ctx, vc, status); err != nil {
		return false, err
	}
	if op.Phase == fleetv1.OperationFailed {
		r.eventf(vc, corev1.EventTypeWarning, fleetv1.ReasonOperationRejected, string(op.Type), "%s", op.Message)
		return false, nil
	}
	ctrl.LoggerFrom(ctx).Info("Operation started", "virtualCluster", klog.KObj(vc), "operation", op.Type, "id", op.ID, "from", op.From, "to", op.To)
	r.eventf(vc, corev1.EventTypeNormal, string(op.Type), string(op.Type), "%s", op.Message)
	return true, nil
}

// checkOperation says why op cannot be done, or "".
func (r *Reconciler) checkOperation(ctx context.Context, vc *fleetv1.VirtualCluster, op *fleetv1.OperationStatus) string {
	if op.Type != fleetv1.OperationFailover && op.Type != fleetv1.OperationMigration {
		return fmt.Sprintf("unknown operation %q: want %s or %s", op.Type, fleetv1.OperationFailover, fleetv1.OperationMigration)
	}
	if err := CheckMove(ctx, r.Client, vc, op.To); err != nil {
		return err.Error()
	}
	req, err := r.requestFor(ctx, vc)
	if err != nil {
		return err.Error()
	}
	req.Exclude, req.Only = map[string]bool{vc.Status.Host: true}, op.To
	if _, err := r.Engine.Check(req); err != nil {
		if op.To != "" {
			return fmt.Sprintf("host %s cannot take the vcluster: %v", op.To, err)
		}
		return fmt.Sprintf("no other host can take the vcluster: %v", err)
	}
	if err := r.checkStore(ctx, vc); err != nil {
		return err.Error()
	}
	return ""
}

// CheckMove says why vc cannot be moved (to host to, when it is set)
// whatever the fleet's capacity: the rules both vfleet and the hub check
// before anything is stopped.
func CheckMove(ctx context.Context, c client.Reader, vc *fleetv1.VirtualCluster, to string) error {
	switch {
	case vc.Spec.BackingStore.Type != fleetv1.BackingStoreExternal:
		return fmt.Errorf("vcluster %s keeps its state in SQLite on host %s (backingStore Embedded), so it cannot be brought up on another host: only vclusters with an External backing store can fail over or migrate",
			vc.Name, vc.Status.Host)
	case vc.Status.Host == "":
		return fmt.Errorf("vcluster %s is not placed on any host yet", vc.Name)
	case vc.Status.Phase == fleetv1.PhaseFailingOver:
		return fmt.Errorf("vcluster %s is already failing over", vc.Name)
	case to == "":
		return nil
	case to == vc.Status.Host:
		return fmt.Errorf("vcluster %s already runs on host %s", vc.Name, to)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: to}, &fleetv1.HostCluster{}); apierrors.IsNotFound(err) {
		return fmt.Errorf("host %s is not in the fleet (kubectl get hostclusters lists them)", to)
	} else if err != nil {
		return err
	}
	return nil
}

// checkStore says why the vcluster's store could not be fenced now: it
// is asked, not its last known condition, since a move stops the running
// control plane only if the fence can follow.
func (r *Reconciler) checkStore(ctx context.Context, vc *fleetv1.VirtualCluster) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	admin, _, err := r.storeAdmin(ctx, vc)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		return fmt.Errorf("backing store %s is not ready (%v): the running control plane could not be fenced, so the vcluster stays where it is", vc.Spec.BackingStore.Name, err)
	}
	return nil
}

// stopForMigration puts the old control plane to sleep through its
// ControlPlane, and reports whether it has stopped.
func (r *Reconciler) stopForMigration(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed) (bool, error) {
	cp := &fleetv1.ControlPlane{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: ControlPlaneName(vc)}, cp)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if !cp.Spec.Sleeping {
		before := cp.DeepCopy()
		cp.Spec.Sleeping = true
		if err := r.Client.Patch(ctx, cp, client.MergeFrom(before)); err != nil {
			return false, err
		}
		msg := fmt.Sprintf("migrating from host %s: stopping its control plane cleanly", vc.Status.Host)
		o.moveStep = &moveStep{reason: fleetv1.ReasonStoppingForMigration, message: msg, eventType: corev1.EventTypeNormal}
		return false, nil
	}
	return sleepingNow(cp), nil
}

// sleepingNow is whether cp's agent reports its control plane stopped, for
// the spec as it is now.
func sleepingNow(cp *fleetv1.ControlPlane) bool {
	return cp.Spec.Sleeping && cp.Status.ObservedGeneration == cp.Generation && cp.Status.Phase == fleetv1.ControlPlaneSleeping
}

// controlPlaneStopped is whether the control plane of vc's current
// placement has stopped to sleep.
func (r *Reconciler) controlPlaneStopped(ctx context.Context, vc *fleetv1.VirtualCluster) (bool, error) {
	cp := &fleetv1.ControlPlane{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: ControlPlaneName(vc)}, cp)
	if err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return cp.Spec.Epoch == vc.Status.Epoch && sleepingNow(cp), nil
}

// retire deletes the ControlPlanes of earlier placements (their agents
// stop them and clean their hosts, now or when they come back), and the
// credentials Secrets of fenced epochs.
func (r *Reconciler) retire(ctx context.Context, vc *fleetv1.VirtualCluster) error {
	for _, p := range vc.Status.PlacementHistory {
		if p.Host == vc.Status.Host {
			continue
		}
		if err := r.withdrawIdentity(ctx, vc, p.Host); err != nil {
			return err
		}
		cp := &fleetv1.ControlPlane{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(p.Host), Name: ControlPlaneName(vc)}, cp)
		if apierrors.IsNotFound(err) || (err == nil && (!cp.DeletionTimestamp.IsZero() || cp.Spec.Epoch >= vc.Status.Epoch)) {
			continue
		}
		if err != nil {
			return err
		}
		if err := r.Client.Delete(ctx, cp, client.Preconditions{UID: &cp.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("retire ControlPlane %s: %w", client.ObjectKeyFromObject(cp), err)
		}
		ctrl.LoggerFrom(ctx).Info("Retiring the ControlPlane of an earlier epoch", "controlPlane", klog.KObj(cp), "epoch", cp.Spec.Epoch)
	}
	if vc.Spec.BackingStore.Type != fleetv1.BackingStoreExternal || vc.Status.FencedEpoch == 0 {
		return nil
	}
	for _, p := range vc.Status.PlacementHistory {
		if p.Epoch > vc.Status.FencedEpoch {
			continue
		}
		s := &corev1.Secret{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(p.Host), Name: storeCredentialsSecretAt(vc, p.Epoch)}, s)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err == nil {
			err = r.Client.Delete(ctx, s)
		}
		if client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}
