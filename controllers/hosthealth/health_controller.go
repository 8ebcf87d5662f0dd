package hosthealth

import (
	"context"
	"errors"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/liveness"
)

// Reconciler sets a HostCluster's health from its agent's Lease.
type Reconciler struct {
	Client   client.Client
	Clock    clock.PassiveClock
	Recorder events.EventRecorder
	// Liveness judges the Lease by the hub's clock; the hub's controllers
	// share one.
	Liveness *liveness.Tracker
}

// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=hostclusters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=hostclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller. The manager's cache should
// hold only Leases labelled with fleet.vfleet.dev/host.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil || r.Clock == nil || r.Recorder == nil || r.Liveness == nil {
		return errors.New("hosthealth: Client, Clock, Recorder and Liveness are required")
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("hosthealth").
		For(&fleetv1.HostCluster{}).
		Watches(&coordinationv1.Lease{}, handler.EnqueueRequestsFromMapFunc(leaseToHost)).
		Complete(r)
}

// leaseToHost maps an agent Lease to its host. The label only routes the
// event; Reconcile reads the Lease at the one place it may be, so a Lease
// an agent writes into its own namespace cannot speak for another host.
func leaseToHost(_ context.Context, obj client.Object) []reconcile.Request {
	host := obj.GetLabels()[fleetv1.LabelHost]
	if host == "" || obj.GetName() != fleetv1.AgentLeaseName || obj.GetNamespace() != fleetv1.HostNamespace(host) {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: host}}}
}

// Reconcile makes the host's conditions and taint agree with its Lease, and
// asks to be called again when the agent's last renewal would stop holding.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	host := &fleetv1.HostCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, host); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !host.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}

	var lease *coordinationv1.Lease
	l := &coordinationv1.Lease{}
	switch err := r.Client.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(host.Name), Name: fleetv1.AgentLeaseName}, l); {
	case err == nil:
		lease = l
	case !apierrors.IsNotFound(err):
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()
	health := Evaluate(r.Liveness.Observe(host.Name, lease, now), now)

	if taints, changed := SetUnreachableTaint(host.Spec.Taints, !health.Reachable, now); changed {
		before := host.DeepCopy()
		host.Spec.Taints = taints
		// Taints are one list; the lock keeps an operator's concurrent
		// edit from being overwritten.
		if err := r.Client.Patch(ctx, host, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, err
		}
	}

	before := host.DeepCopy()
	wasReady := meta.IsStatusConditionTrue(host.Status.Conditions, fleetv1.ConditionReady)
	meta.SetStatusCondition(&host.Status.Conditions, ReadyCondition(health, host.Generation))
	meta.SetStatusCondition(&host.Status.Conditions, SchedulableCondition(host, health))
	host.Status.ObservedGeneration = host.Generation
	if !equality.Semantic.DeepEqual(before.Status, host.Status) {
		if err := r.Client.Status().Patch(ctx, host, client.MergeFrom(before)); err != nil {
			return ctrl.Result{}, err
		}
		r.recordTransition(ctx, host, wasReady, health)
	}
	return ctrl.Result{RequeueAfter: health.ExpiresIn}, nil
}

func (r *Reconciler) recordTransition(ctx context.Context, host *fleetv1.HostCluster, wasReady bool, h Health) {
	log := ctrl.LoggerFrom(ctx)
	switch {
	case wasReady && !h.Reachable:
		log.Info("Host became unreachable", "hostCluster", klog.KObj(host), "reason", h.Reason)
		r.Recorder.Eventf(host, nil, corev1.EventTypeWarning, h.Reason, "MarkUnreachable", h.Message)
	case !wasReady && h.Reachable:
		log.Info("Host is heartbeating", "hostCluster", klog.KObj(host))
		r.Recorder.Eventf(host, nil, corev1.EventTypeNormal, h.Reason, "MarkReady", h.Message)
	}
}
