package virtualcluster

import (
	"context"
	"errors"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
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
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=hostclusters;backingstores,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete

// SetupWithManager registers the controller and the placement snapshot's
// event handlers.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Client == nil || r.Engine == nil || r.Recorder == nil || r.Clock == nil {
		return errors.New("virtualcluster: Client, Engine, Recorder and Clock are required")
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
	r.feeder = feeder{engine: r.Engine, overhead: r.Overhead, changed: make(chan event.GenericEvent, 1)}
	if err := r.feeder.register(ctx, mgr); err != nil {
		return err
	}
	wake := handler.Funcs{
		GenericFunc: func(_ context.Context, _ event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.wakePending(q)
		},
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("virtualcluster").
		For(&fleetv1.VirtualCluster{}).
		// The fleet changed in a way that may let a pending vcluster fit.
		WatchesRawSource(source.Channel(r.feeder.changed, wake)).
		// What the agents report, and publish, about the control planes.
		Watches(&fleetv1.ControlPlane{}, handler.EnqueueRequestsFromMapFunc(toVirtualCluster)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(toVirtualCluster)).
		// A host that goes silent (or comes back) concerns its vclusters.
		Watches(&fleetv1.HostCluster{}, handler.EnqueueRequestsFromMapFunc(r.onHost)).
		Complete(r)
}

// hostIndex indexes VirtualClusters by the host they run on.
const hostIndex = "status.host"

// onHost maps a host to the vclusters placed on it.
func (r *Reconciler) onHost(ctx context.Context, obj client.Object) []reconcile.Request {
	var list fleetv1.VirtualClusterList
	if err := r.Client.List(ctx, &list, client.MatchingFields{hostIndex: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Cannot list the vclusters of a host", "host", obj.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, len(list.Items))
	for i := range list.Items {
		reqs[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}
	}
	return reqs
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
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	vc := &fleetv1.VirtualCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, vc); err != nil {
		r.setPending(req.NamespacedName, false)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !vc.DeletionTimestamp.IsZero() {
		r.setPending(req.NamespacedName, false)
		return ctrl.Result{}, r.reconcileDelete(ctx, vc)
	}
	if !controllerutil.ContainsFinalizer(vc, Finalizer) {
		before := vc.DeepCopy()
		controllerutil.AddFinalizer(vc, Finalizer)
		if err := r.Client.Patch(ctx, vc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, err
		}
	}
	if vc.Status.Host == "" {
		placed, err := r.place(ctx, vc)
		r.setPending(req.NamespacedName, !placed && err == nil)
		if err != nil || !placed {
			return ctrl.Result{}, err
		}
	}
	res, moving, err := r.reconcileMove(ctx, vc)
	if err != nil || moving {
		return res, err
	}
	if vc.Status.FencedEpoch < vc.Status.Epoch {
		r.setPending(req.NamespacedName, false)
	}
	if err := r.ensureControlPlane(ctx, vc); err != nil {
		return ctrl.Result{}, errors.Join(err, r.setProvisioningFailed(ctx, vc, err))
	}
	if err := r.retire(ctx, vc); err != nil {
		return ctrl.Result{}, err
	}
	return res, r.observe(ctx, vc)
}

func (r *Reconciler) reconcileDelete(ctx context.Context, vc *fleetv1.VirtualCluster) error {
	if !controllerutil.ContainsFinalizer(vc, Finalizer) {
		return nil
	}
	gone, err := r.deleteControlPlanes(ctx, vc)
	if err != nil || !gone {
		// The agents clean their hosts first; the ControlPlanes' deletion
		// brings the vcluster back here.
		return err
	}
	if err := r.dropStore(ctx, vc); err != nil {
		return err
	}
	r.Engine.Release(vc.UID)
	before := vc.DeepCopy()
	controllerutil.RemoveFinalizer(vc, Finalizer)
	return r.Client.Patch(ctx, vc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}

// eventf records an event on the vcluster.
func (r *Reconciler) eventf(vc *fleetv1.VirtualCluster, eventType, reason, action, note string, args ...any) {
	r.Recorder.Eventf(vc, nil, eventType, reason, action, note, args...)
}
