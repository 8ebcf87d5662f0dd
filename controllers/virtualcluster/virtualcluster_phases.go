package virtualcluster

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/placement"
	"github.com/vfleet/vfleet/stores"
)

// maxHistory bounds status.placementHistory.
const maxHistory = 10

// place asks the engine for a host and records it. It returns false, with
// the explanation in o, when no host fits.
func (r *Reconciler) place(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed) (bool, error) {
	if !r.feeder.wait(ctx) {
		return false, ctx.Err()
	}
	req, err := r.requestFor(ctx, vc)
	if err != nil {
		// The spec must change before anything else will help.
		o.unscheduled = &unscheduled{reason: fleetv1.ReasonInvalidPlacement, message: err.Error()}
		return false, reconcile.TerminalError(err)
	}
	start := r.Clock.Now()
	host, err := timed(fleetv1.PlacementInitial, func() (string, error) { return r.Engine.Schedule(req) })
	var unschedulable *placement.Unschedulable
	if errors.As(err, &unschedulable) {
		if r.spill(ctx, vc, o) {
			placements.WithLabelValues(fleetv1.PlacementInitial, resultSpilled).Inc()
			return false, nil
		}
		countUnschedulable(fleetv1.PlacementInitial, unschedulable)
		o.unscheduled = &unscheduled{reason: fleetv1.ReasonUnschedulable, message: unschedulable.Error()}
		return false, nil
	}
	if err != nil {
		return false, err
	}

	// The reservation is made; recording it must not race another
	// reconcile that read an older status, or the epoch would be bumped
	// twice: hence a write of its own with the optimistic lock. It lands
	// before the ControlPlane of the epoch is made. On conflict the next
	// attempt gets the same host back from the engine. A federation
	// commits the epoch first: once committed, it is this hub's to make.
	if err := r.advance(ctx, vc, host); err != nil {
		o.unscheduled = &unscheduled{reason: ledgerReason(err), message: err.Error()}
		return false, err
	}
	status := placedStatus(vc, host, r.Clock.Now())
	if status.Trace == nil {
		status.Trace = beginTrace(ctx, fleetv1.TraceCreate, vc.Status.Epoch, vc.CreationTimestamp.Time)
	}
	if err := r.writeDecision(ctx, vc, status); err != nil {
		return false, err
	}
	recordSpan(ctx, vc, spanPlace, start, r.Clock.Now(), nil)
	placements.WithLabelValues(fleetv1.PlacementInitial, resultPlaced).Inc()
	ctrl.LoggerFrom(ctx).Info("Placed", "virtualCluster", klog.KObj(vc), "host", host, "epoch", vc.Status.Epoch)
	r.eventf(vc, corev1.EventTypeNormal, fleetv1.ReasonPlaced, "Place", "placed on host %s at epoch %d", host, vc.Status.Epoch)
	return true, nil
}

// ControlPlaneName is the name of a vcluster's ControlPlane in its host's
// namespace: unique, since neither part may contain a dot.
func ControlPlaneName(vc *fleetv1.VirtualCluster) string { return vc.Name + "." + vc.Namespace }

// ensureControlPlane creates or updates the ControlPlane for the current
// placement and epoch, with the isolation of the vcluster's class. A frozen
// one (its spec has left its class) is created if missing but not updated:
// the vcluster keeps running as it was admitted.
func (r *Reconciler) ensureControlPlane(ctx context.Context, vc *fleetv1.VirtualCluster, isolation fleetv1.IsolationPolicy, frozen bool) error {
	spec, err := r.controlPlaneSpec(ctx, vc, isolation)
	if err != nil {
		return err
	}
	cp := &fleetv1.ControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: ControlPlaneName(vc)}}
	err = r.Client.Get(ctx, client.ObjectKeyFromObject(cp), cp)
	switch {
	case apierrors.IsNotFound(err):
		cp.Labels = map[string]string{
			fleetv1.LabelHost: vc.Status.Host, fleetv1.LabelManagedBy: fleetv1.ManagedByValue,
			fleetv1.LabelVirtualClusterUID: string(vc.UID),
			fleetv1.LabelVirtualCluster:    vc.Name, fleetv1.LabelVirtualClusterNamespace: vc.Namespace,
		}
		cp.Spec = spec
		markTrace(cp, vc)
		if err := r.Client.Create(ctx, cp); apierrors.IsAlreadyExists(err) {
			// Made by the previous reconcile, not yet in the cache: its
			// event brings the vcluster back.
			return nil
		} else if err != nil {
			return fmt.Errorf("create ControlPlane %s: %w", client.ObjectKeyFromObject(cp), err)
		}
		ctrl.LoggerFrom(ctx).Info("Created ControlPlane", "controlPlane", klog.KObj(cp), "epoch", spec.Epoch)
		return nil
	case err != nil:
		return err
	}
	if !cp.DeletionTimestamp.IsZero() {
		// An earlier stint here is still being cleaned up by the agent;
		// its removal brings the vcluster back here.
		return fmt.Errorf("the ControlPlane of an earlier placement on host %s is still being removed", vc.Status.Host)
	}
	if cp.Spec.Epoch > spec.Epoch || frozen && cp.Spec.Epoch == spec.Epoch {
		// Never move a host's instruction back to an older epoch, nor
		// forward to a spec the class does not admit.
		return nil
	}
	before := cp.DeepCopy()
	cp.Spec = spec
	markTrace(cp, vc)
	if equality.Semantic.DeepEqual(cp.Spec, before.Spec) && equality.Semantic.DeepEqual(cp.Annotations, before.Annotations) {
		return nil
	}
	return r.Client.Patch(ctx, cp, client.MergeFrom(before))
}

// markTrace hands the trace of vc's operation under way to the agent that
// runs cp. The annotation stays once the operation is over: removing it
// would only be one more write for the agent to wake up to.
func markTrace(cp *fleetv1.ControlPlane, vc *fleetv1.VirtualCluster) {
	if t := vc.Status.Trace; t != nil {
		metav1.SetMetaDataAnnotation(&cp.ObjectMeta, fleetv1.AnnotationTraceparent, t.Traceparent)
	}
}

func (r *Reconciler) controlPlaneSpec(ctx context.Context, vc *fleetv1.VirtualCluster, isolation fleetv1.IsolationPolicy) (fleetv1.ControlPlaneSpec, error) {
	spec := fleetv1.ControlPlaneSpec{
		VirtualCluster:    fleetv1.VirtualClusterReference{Namespace: vc.Namespace, Name: vc.Name, UID: string(vc.UID)},
		Epoch:             vc.Status.Epoch,
		KubernetesVersion: vc.Spec.KubernetesVersion,
		Resources:         reservedResources(vc),
		Store:             fleetv1.ControlPlaneStore{Type: vc.Spec.BackingStore.Type},
		Isolation:         isolation,
		// A vcluster woken whose host no longer holds its share waits
		// for one that does.
		Sleeping:   asleep(vc) || migratingFrom(vc, vc.Status.Host) || vc.Status.ReservationReleased,
		ServerName: r.Gateway.ServerName(vc),
	}
	if r.IdentityNamespace != "" {
		data, err := r.ensureIdentity(ctx, vc)
		if err != nil {
			return spec, err
		}
		if err := r.deliverIdentity(ctx, vc, data); err != nil {
			return spec, fmt.Errorf("hand the vcluster's identity to host %s: %w", vc.Status.Host, err)
		}
		spec.IdentitySecret = HostIdentitySecretName(vc)
	}
	if spec.Store.Type == fleetv1.BackingStoreExternal {
		bs := &fleetv1.BackingStore{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: vc.Spec.BackingStore.Name}, bs); err != nil {
			return spec, fmt.Errorf("backing store %s: %w", vc.Spec.BackingStore.Name, err)
		}
		spec.Store.Driver = bs.Spec.Driver
		spec.Store.Endpoint = bs.Spec.Endpoint
		spec.Store.Database = stores.Location(bs.Spec.Driver, vc.StoreUID())
		spec.Store.CredentialsSecret = storeCredentialsSecret(vc)
		if err := r.provisionStore(ctx, vc, bs); err != nil {
			storeErrors.WithLabelValues(bs.Name, string(bs.Spec.Driver)).Inc()
			return spec, fmt.Errorf("provision the vcluster's store on %s: %w", bs.Name, err)
		}
	}
	return spec, nil
}

// migratingFrom reports whether a migration is taking the vcluster off
// host: its control plane there stays stopped.
func migratingFrom(vc *fleetv1.VirtualCluster, host string) bool {
	op := vc.Status.Operation
	return op != nil && op.Type == fleetv1.OperationMigration && op.Phase == fleetv1.OperationInProgress && op.From == host
}

// deleteControlPlanes deletes the vcluster's ControlPlanes on every host
// it was placed on, and reports whether they are all gone: each agent holds
// its ControlPlane until its host is clean. A ControlPlane on a host that
// left the fleet has no agent to wait for.
func (r *Reconciler) deleteControlPlanes(ctx context.Context, vc *fleetv1.VirtualCluster) (bool, error) {
	hosts := map[string]bool{}
	if vc.Status.Host != "" {
		hosts[vc.Status.Host] = true
	}
	for _, p := range vc.Status.PlacementHistory {
		hosts[p.Host] = true
	}
	gone := true
	for host := range hosts {
		cp := &fleetv1.ControlPlane{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(host), Name: ControlPlaneName(vc)}, cp)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return false, err
		}
		gone = false
		if cp.DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, cp); client.IgnoreNotFound(err) != nil {
				return false, fmt.Errorf("delete ControlPlane %s: %w", client.ObjectKeyFromObject(cp), err)
			}
			ctrl.LoggerFrom(ctx).Info("Deleting ControlPlane", "controlPlane", klog.KObj(cp))
			continue
		}
		// No agent will come to clean up after a host that left the fleet,
		// nor soon after a lost host whose epoch is fenced; that agent
		// removes what is left of it when it comes back.
		silent, err := r.silentFor(ctx, r.Client, host)
		if err != nil {
			return false, err
		}
		if abandoned := silent > 0 && cp.Spec.Epoch <= vc.Status.FencedEpoch; (silent == lostForGood || abandoned) && len(cp.Finalizers) > 0 {
			before := cp.DeepCopy()
			cp.Finalizers = nil
			if err := r.Client.Patch(ctx, cp, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
				return false, err
			}
		}
	}
	return gone, nil
}
