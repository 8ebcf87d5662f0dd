package virtualcluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/moves"
	"github.com/vfleet/vfleet/placement"
)

// A class may give a sleeping vcluster's reservation back
// (sleep.reservation Release), so that what a host sells is what runs.
// The reservation then goes through three states, each recorded in the
// status before the hub acts on it, like a resize's:
//
//  1. held (status.reserved) while the vcluster runs, and while it falls
//     asleep, until its control plane has stopped;
//  2. released (status.reservationReleased): the ledger holds nothing for
//     it on its host, and its control plane stays stopped, even once
//     woken, until a host holds it again;
//  3. on a wake, held again: on its host if that has room; else, for an
//     External vcluster, by a migration (placement reason Wake) to a host
//     that has. An Embedded one, or one that no host has room for, waits,
//     saying so in ResourcesReserved, and is looked at again when the
//     fleet changes.

// reserveAcrossSleep keeps vc's reservation through a sleep that its class
// releases it for. It reports whether it settled the reservation: if not,
// reserve goes on as for any placed vcluster.
func (r *Reconciler) reserveAcrossSleep(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed, class fleetv1.VirtualClusterClassSpec) (bool, error) {
	release := asleep(vc) && class.Sleep.Reservation == fleetv1.ReservationRelease
	switch {
	case vc.Status.ReservationReleased && release:
		o.reservation = releasedReservation(vc)
		return true, nil
	case vc.Status.ReservationReleased:
		return true, r.reserveAgain(ctx, vc, o)
	case release && vc.Status.Reserved != nil:
		// Only once stopped: until then its processes still use the host.
		// Asked of the ControlPlane, not of the status's phase, which may
		// be of a sleep before a wake that is starting it again.
		stopped, err := r.controlPlaneStopped(ctx, vc)
		if err != nil || !stopped {
			return false, err
		}
		return true, r.releaseAsleep(ctx, vc, o)
	}
	return false, nil
}

func releasedReservation(vc *fleetv1.VirtualCluster) *reservation {
	return &reservation{reason: fleetv1.ReasonReleasedWhileAsleep, message: fmt.Sprintf(
		"the vcluster sleeps and its class gives its reservation back: host %s holds nothing for it until it wakes", vc.Status.Host)}
}

// releaseAsleep gives the host's share back: recorded first, as the ledger
// is rebuilt from the status when the hub restarts.
func (r *Reconciler) releaseAsleep(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed) error {
	held := *vc.Status.Reserved
	status := *vc.Status.DeepCopy()
	status.Reserved = nil
	status.ReservationReleased = true
	if err := r.writeDecision(ctx, vc, status); err != nil {
		return err
	}
	r.Engine.Release(vc.UID)
	// Its room may be what a pending vcluster waits for.
	r.feeder.signal()
	ctrl.LoggerFrom(ctx).Info("Released the reservation of a sleeping vcluster", "virtualCluster", klog.KObj(vc), "host", vc.Status.Host)
	r.eventf(vc, corev1.EventTypeNormal, fleetv1.ReasonReleasedWhileAsleep, "Release", "asleep: host %s no longer holds cpu %s, memory %s and %d pods for the vcluster",
		vc.Status.Host, held.CPU.String(), held.Memory.String(), held.Pods)
	o.reservation = releasedReservation(vc)
	return nil
}

// reserveAgain holds a released reservation again, for a wake: on the
// vcluster's host if it has room, else elsewhere (wakeElsewhere).
func (r *Reconciler) reserveAgain(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed) error {
	// Not against a ledger still being rebuilt after a restart.
	if !r.feeder.wait(ctx) {
		return ctx.Err()
	}
	req, err := r.requestFor(ctx, vc)
	if err != nil {
		return err
	}
	var refused *placement.ResizeRefused
	r.feeder.claim(vc.UID)
	err = r.Engine.Resize(req, vc.Status.Host)
	if err != nil && !errors.As(err, &refused) {
		return err
	}
	if err == nil {
		status := *vc.Status.DeepCopy()
		status.Reserved = vc.Spec.Resources.DeepCopy()
		status.ReservationReleased = false
		if err := r.writeDecision(ctx, vc, status); err != nil {
			return err
		}
		r.eventf(vc, corev1.EventTypeNormal, fleetv1.ReasonReserved, "Reserve", "host %s holds cpu %s, memory %s and %d pods for the vcluster again",
			vc.Status.Host, vc.Spec.Resources.CPU.String(), vc.Spec.Resources.Memory.String(), vc.Spec.Resources.Pods)
		o.reservation = &reservation{held: true}
		return nil
	}
	short := fmt.Sprintf("host %s has no room for the vcluster: insufficient %s (it asks for %v; the host has %v free)", refused.Host, refused.Short, refused.Want, refused.Free)
	// Looked at again when the fleet changes.
	r.setPending(client.ObjectKeyFromObject(vc), true)
	switch {
	case asleep(vc):
		// Its class keeps reservations now, but it has not woken yet.
		o.reservation = &reservation{message: short + "; it is held again once the host has room"}
		return nil
	case vc.Spec.BackingStore.Type != fleetv1.BackingStoreExternal:
		o.reservation = &reservation{message: short + "; the vcluster keeps its state on that host (backingStore Embedded), so it wakes there once the host has room"}
		return nil
	}
	req.Exclude = map[string]bool{vc.Status.Host: true}
	if _, err := r.Engine.Check(req); err != nil {
		o.reservation = &reservation{message: fmt.Sprintf("%s, and no other host can take it: %v; it wakes once one has room", short, err)}
		return nil
	}
	if op := lastWake(vc); op != nil && op.Phase == fleetv1.OperationFailed && op.CompletionTime != nil && r.Clock.Since(op.CompletionTime.Time) < wakeRetry {
		// Not asked again at once: what failed it (a store down) may
		// last. Looked at again when the fleet changes, after a while.
		o.reservation = &reservation{message: fmt.Sprintf("%s; its move to another host failed: %s", short, op.Message)}
		return nil
	}
	o.reservation = &reservation{message: short + "; it wakes on another host, by a migration"}
	return r.wakeElsewhere(ctx, vc)
}

// wakeRetry is how long after a failed move for a wake the hub waits
// before it asks for another.
const wakeRetry = 30 * time.Second

// lastWake is the last operation the hub asked for a wake, or nil.
func lastWake(vc *fleetv1.VirtualCluster) *fleetv1.OperationStatus {
	op := vc.Status.Operation
	if op == nil || vc.Annotations[fleetv1.AnnotationOperationReason] != fleetv1.PlacementWake || op.ID != vc.Annotations[fleetv1.AnnotationOperationID] {
		return nil
	}
	return op
}

// wakeElsewhere asks for the migration a wake with no room needs, as
// vfleet drain does: through the annotations that the move's steps
// (reconcileMove) take up, so that it is checked, fenced and recorded like
// any other. Asked once: the request stands until it is taken up; one
// that failed is asked again after wakeRetry (reserveAgain).
func (r *Reconciler) wakeElsewhere(ctx context.Context, vc *fleetv1.VirtualCluster) error {
	if id := vc.Annotations[fleetv1.AnnotationOperationID]; id != "" && (vc.Status.Operation == nil || vc.Status.Operation.ID != id) {
		// A move asked for, this hub's or a person's, is yet to be
		// taken up: it moves the vcluster too.
		return nil
	}
	id, err := moves.Request(ctx, r.Client, vc, moves.Move{Type: fleetv1.OperationMigration, Reason: fleetv1.PlacementWake})
	if err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("Waking a vcluster on another host: its own has no room", "virtualCluster", klog.KObj(vc), "host", vc.Status.Host, "operation", id)
	r.eventf(vc, corev1.EventTypeNormal, fleetv1.ReasonWaking, "Wake", "host %s has no room left for the vcluster: it wakes on another host (operation %s)", vc.Status.Host, id)
	return nil
}
