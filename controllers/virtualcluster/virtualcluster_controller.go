package virtualcluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/liveness"
	"github.com/vfleet/vfleet/placement"
)

// Finalizer holds a VirtualCluster until its ControlPlane is gone and its
// reservation released.
const Finalizer = "fleet.vfleet.dev/virtualcluster"

// Reconciler places VirtualClusters and creates their ControlPlanes.
type Reconciler struct {
	Client client.Client
	// Reader reads what the hub does not cache: BackingStores' admin
	// credentials. Client when nil.
	Reader   client.Reader
	Engine   *placement.Engine
	Overhead placement.Overhead
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// Liveness judges hosts' Leases by the hub's clock; the hub's
	// controllers share one.
	Liveness *liveness.Tracker
	// Ledger is the federation's, when the hub is one of a federation's:
	// see EpochLedger.
	Ledger EpochLedger
	// IdentityNamespace keeps the vclusters' identities (identity.go),
	// where neither tenants nor agents read: the hub's own namespace.
	// Empty leaves each control plane to make its own, which a move does
	// not keep.
	IdentityNamespace string
	// Gateway is the region's gateway, if it has one: tenants'
	// kubeconfigs name it, and each vcluster's status its route.
	Gateway Gateway
	// activity reads the gateway's activity Leases (watchActivity).
	activity client.Reader
	// Workers is how many VirtualClusters are reconciled at once (1 when
	// 0). Placement decides and reserves under the engine's lock, so two
	// at once never take the same room.
	Workers int

	feeder feeder
	// pending are the VirtualClusters no host fits; a change to the fleet
	// (a host added, capacity freed, a taint removed) wakes them, not a
	// timer.
	pendingMu sync.Mutex
	pending   map[types.NamespacedName]struct{}
}

// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=virtualclusters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=virtualclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=virtualclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=controlplanes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=hostclusters;backingstores;virtualclusterclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete

// SetupWithManager registers the controller and the placement snapshot's
// event handlers.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Client == nil || r.Engine == nil || r.Recorder == nil || r.Clock == nil || r.Liveness == nil {
		return errors.New("virtualcluster: Client, Engine, Recorder, Clock and Liveness are required")
	}
	r.pending = map[types.NamespacedName]struct{}{}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &fleetv1.VirtualCluster{}, hostIndex, func(o client.Object) []string {
		if vc, ok := o.(*fleetv1.VirtualCluster); ok && vc.Status.Host != "" {
			return []string{vc.Status.Host}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &fleetv1.VirtualCluster{}, classIndex, func(o client.Object) []string {
		if vc, ok := o.(*fleetv1.VirtualCluster); ok {
			return []string{className(vc)}
		}
		return nil
	}); err != nil {
		return err
	}
	r.feeder = feeder{engine: r.Engine, overhead: r.Overhead, changed: make(chan event.GenericEvent, 1)}
	if err := r.feeder.register(ctx, mgr); err != nil {
		return err
	}
	wake := handler.Funcs{
		GenericFunc: func(_ context.Context, _ event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.wakePending(q)
		},
	}
	bldr := ctrl.NewControllerManagedBy(mgr)
	if r.IdentityNamespace != "" {
		activity, err := r.watchActivity(mgr)
		if err != nil {
			return err
		}
		bldr = bldr.WatchesRawSource(activity)
	}
	return bldr.
		Named("virtualcluster").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1)}).
		For(&fleetv1.VirtualCluster{}).
		// The fleet changed in a way that may let a pending vcluster fit.
		WatchesRawSource(source.Channel(r.feeder.changed, wake)).
		// What the agents report, and publish, about the control planes.
		Watches(&fleetv1.ControlPlane{}, handler.EnqueueRequestsFromMapFunc(toVirtualCluster), builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(e event.UpdateEvent) bool { return !onlyUsedChanged(e.ObjectOld, e.ObjectNew) },
		})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(toVirtualCluster)).
		// A host that goes silent (or comes back) concerns its vclusters.
		Watches(&fleetv1.HostCluster{}, handler.EnqueueRequestsFromMapFunc(r.onHost)).
		// A class made, changed or deleted changes what its vclusters may do.
		Watches(&fleetv1.VirtualClusterClass{}, handler.EnqueueRequestsFromMapFunc(r.onClass)).
		Complete(r)
}

// hostIndex indexes VirtualClusters by the host they run on.
const hostIndex = "status.host"

// classIndex indexes VirtualClusters by the class they run under.
const classIndex = "spec.className"

// onClass maps a class to the vclusters that run under it.
func (r *Reconciler) onClass(ctx context.Context, obj client.Object) []reconcile.Request {
	var list fleetv1.VirtualClusterList
	if err := r.Client.List(ctx, &list, client.MatchingFields{classIndex: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Cannot list the vclusters of a class", "class", obj.GetName())
		return nil
	}
	return requestsOf(list.Items)
}

func requestsOf(vcs []fleetv1.VirtualCluster) []reconcile.Request {
	reqs := make([]reconcile.Request, len(vcs))
	for i := range vcs {
		reqs[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&vcs[i])}
	}
	return reqs
}

// onHost maps a host to the vclusters placed on it.
func (r *Reconciler) onHost(ctx context.Context, obj client.Object) []reconcile.Request {
	var list fleetv1.VirtualClusterList
	if err := r.Client.List(ctx, &list, client.MatchingFields{hostIndex: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Cannot list the vclusters of a host", "host", obj.GetName())
		return nil
	}
	return requestsOf(list.Items)
}

// onlyUsedChanged says whether a ControlPlane changed only in what its
// pods use (status.used): the agent writes it as pods come and go, the
// cost metrics read it from the cache, and nothing the reconciler decides
// depends on it, so it wakes no reconcile.
func onlyUsedChanged(oldObj, newObj client.Object) bool {
	old, ok1 := oldObj.(*fleetv1.ControlPlane)
	cur, ok2 := newObj.(*fleetv1.ControlPlane)
	if !ok1 || !ok2 || equality.Semantic.DeepEqual(old.Status.Used, cur.Status.Used) {
		return false
	}
	same := old.DeepCopy()
	same.Status.Used, same.ResourceVersion, same.ManagedFields = cur.Status.Used, cur.ResourceVersion, cur.ManagedFields
	return equality.Semantic.DeepEqual(same, cur)
}

// toVirtualCluster maps an object the agent labelled for a vcluster to it.
func toVirtualCluster(_ context.Context, obj client.Object) []reconcile.Request {
	l := obj.GetLabels()
	if l[fleetv1.LabelManagedBy] != fleetv1.ManagedByValue || l[fleetv1.LabelVirtualCluster] == "" || l[fleetv1.LabelVirtualClusterNamespace] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: l[fleetv1.LabelVirtualClusterNamespace], Name: l[fleetv1.LabelVirtualCluster]}}}
}

func (r *Reconciler) wakePending(q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	r.pendingMu.Lock()
	defer r.pendingMu.Unlock()
	for key := range r.pending {
		q.Add(reconcile.Request{NamespacedName: key})
	}
}

func (r *Reconciler) setPending(key types.NamespacedName, pending bool) {
	r.pendingMu.Lock()
	defer r.pendingMu.Unlock()
	if pending {
		r.pending[key] = struct{}{}
	} else {
		delete(r.pending, key)
	}
}

// Reconcile places the vcluster once and keeps its ControlPlane in place.
// What it finds out is written to the status in one patch when it ends
// (patchStatus); the decisions a later step depends on are written as
// they are made (writeDecision).
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	vc := &fleetv1.VirtualCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, vc); err != nil {
		r.setPending(req.NamespacedName, false)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.Ledger != nil && (beingTakenOver(vc) || r.Ledger.Stale(vc)) {
		// The federation's takeover writes its status next; whatever
		// this controller did now would race it.
		return ctrl.Result{}, nil
	}
	o := &observed{}
	defer func() {
		if err := r.patchStatus(ctx, vc, o); err != nil {
			reterr = errors.Join(reterr, err)
		}
	}()
	if !vc.DeletionTimestamp.IsZero() {
		r.setPending(req.NamespacedName, false)
		return ctrl.Result{}, r.reconcileDelete(ctx, vc, o)
	}
	if !controllerutil.ContainsFinalizer(vc, Finalizer) {
		before := vc.DeepCopy()
		controllerutil.AddFinalizer(vc, Finalizer)
		if err := r.Client.Patch(ctx, vc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, err
		}
	}
	return r.reconcileNormal(ctx, vc, o)
}

// reconcileNormal places the vcluster, moves it when it must, and keeps
// its ControlPlane, recording what it finds in o.
func (r *Reconciler) reconcileNormal(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(vc)
	if taken, err := r.runsElsewhere(ctx, vc, o); err != nil || taken {
		r.setPending(key, false)
		return ctrl.Result{}, err
	}
	class, err := r.classOf(ctx, vc)
	if err == nil {
		err = admit(vc, class)
	}
	o.admission = admissionOf(err)
	var refused *classError
	frozen := errors.As(err, &refused)
	switch {
	case frozen && vc.Status.Host == "":
		// Nothing is placed until the spec or the class changes; both
		// are watched.
		o.unscheduled = &unscheduled{reason: refused.reason, message: refused.message}
		r.setPending(key, false)
		return ctrl.Result{}, nil
	case err != nil && !frozen:
		return ctrl.Result{}, err
	}
	if vc.Status.Host == "" {
		placed, err := r.place(ctx, vc, o)
		r.setPending(key, !placed && err == nil)
		if err != nil || !placed {
			return ctrl.Result{}, err
		}
	}
	res, moving, err := r.reconcileMove(ctx, vc, o)
	if err != nil || moving {
		return res, err
	}
	if vc.Status.FencedEpoch < vc.Status.Epoch {
		r.setPending(key, false)
	}
	// Sleep first: a wake needs its reservation held again (reserve).
	idle, err := r.reconcileSleep(ctx, vc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if idle > 0 && (res.RequeueAfter == 0 || idle < res.RequeueAfter) {
		res.RequeueAfter = idle
	}
	if !frozen {
		if err := r.reserve(ctx, vc, o, class); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.ensureControlPlane(ctx, vc, class.Isolation, frozen); err != nil {
		// Retried with backoff; the Provisioned condition says why meanwhile.
		o.provisioningFailed = err.Error()
		return ctrl.Result{}, err
	}
	if err := r.retire(ctx, vc); err != nil {
		return ctrl.Result{}, err
	}
	return res, r.observe(ctx, vc, o)
}

func (r *Reconciler) reconcileDelete(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed) error {
	if !controllerutil.ContainsFinalizer(vc, Finalizer) {
		return nil
	}
	gone, err := r.deleteControlPlanes(ctx, vc)
	if err != nil {
		return err
	}
	if !gone {
		// The agents clean their hosts first; the ControlPlanes' deletion
		// brings the vcluster back here.
		o.deleting = true
		return nil
	}
	// One another region took over keeps its store: that region runs it.
	if _, elsewhere := r.elsewhere(vc); !elsewhere {
		if err := r.dropStore(ctx, vc); err != nil {
			return err
		}
	}
	if err := r.dropIdentity(ctx, vc); err != nil {
		return err
	}
	if err := r.dropActivity(ctx, vc); err != nil {
		return err
	}
	if r.Ledger != nil {
		if err := r.Ledger.Forget(ctx, vc); err != nil {
			return fmt.Errorf("the federation's ledger still has the vcluster: %w", err)
		}
	}
	r.Engine.Release(vc.UID)
	before := vc.DeepCopy()
	controllerutil.RemoveFinalizer(vc, Finalizer)
	if err := r.Client.Patch(ctx, vc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	if t := vc.Status.Trace; t != nil {
		endTrace(ctx, vc, t, r.Clock.Now(), errors.New("deleted before it was Ready"))
	}
	return nil
}

// patchStatus writes what the reconcile observed, computed by
// computeStatus, in one patch over the object as last read or written,
// when it changes anything; then it tells the news in events. An
// unchanged status is not written again, so reconciling twice changes
// nothing.
func (r *Reconciler) patchStatus(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed) error {
	now := r.Clock.Now()
	status := computeStatus(vc, *o, now)
	if equality.Semantic.DeepEqual(status, vc.Status) {
		return nil
	}
	before := vc.DeepCopy()
	vc.Status = status
	if err := r.Client.Status().Patch(ctx, vc, client.MergeFrom(before)); err != nil {
		// A vcluster that is gone has nothing left to report on.
		return client.IgnoreNotFound(err)
	}
	observeMove(&before.Status, &vc.Status, now, r.Liveness.LastSeen)
	if t, err := traceEnded(&before.Status, &vc.Status); t != nil {
		endTrace(ctx, vc, t, now, err)
	}
	for _, e := range statusEvents(&before.Status, &vc.Status, *o) {
		r.eventf(vc, e.eventType, e.reason, e.action, "%s", e.note)
	}
	return nil
}

// writeDecision writes status, a decision that a later step acts on, at
// once, and only over the status it was made from: the optimistic lock
// makes a reconcile that read an older status fail with a conflict, and
// try again from the new one, rather than decide twice (bump the epoch
// twice, fence or start an operation against a host the vcluster has
// left). vc becomes the written object; it is left as it was if the
// write fails.
func (r *Reconciler) writeDecision(ctx context.Context, vc *fleetv1.VirtualCluster, status fleetv1.VirtualClusterStatus) error {
	next := vc.DeepCopy()
	next.Status = *status.DeepCopy()
	if err := r.Client.Status().Patch(ctx, next, client.MergeFromWithOptions(vc, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	*vc = *next
	return nil
}

// eventf records an event on the vcluster.
func (r *Reconciler) eventf(vc *fleetv1.VirtualCluster, eventType, reason, action, note string, args ...any) {
	r.Recorder.Eventf(vc, nil, eventType, reason, action, note, args...)
}
