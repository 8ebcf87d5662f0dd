package virtualcluster

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// sleepAsked is whether the tenant asked vc to sleep (vfleet sleep).
func sleepAsked(vc *fleetv1.VirtualCluster) bool {
	return vc.Spec.Sleep != nil && vc.Spec.Sleep.Sleeping
}

// asleep is whether vc's control plane should be stopped: asked, or
// inactive until a request wakes it.
func asleep(vc *fleetv1.VirtualCluster) bool { return sleepAsked(vc) || inactive(vc) }

// inactive is whether vc sleeps for inactivity, until a request wakes it.
func inactive(vc *fleetv1.VirtualCluster) bool {
	return vc.Status.Sleep != nil && vc.Status.Sleep.Reason == fleetv1.SleepInactive
}

// watchesActivity is whether vc's use matters to the hub: it may fall
// asleep for inactivity, or sleeps until used.
func watchesActivity(vc *fleetv1.VirtualCluster) bool {
	return inactive(vc) || vc.Spec.Sleep != nil && vc.Spec.Sleep.AfterInactivity != nil
}

// sleepDecision is what the hub does about vc's inactivity: put it to
// sleep, wake it, or look again after wait (zero: never, by itself).
type sleepDecision struct {
	sleep, wake bool
	wait        time.Duration
}

// decideSleep is the pure part of reconcileSleep: lastUsed is the latest
// renewal of vc's activity Lease (zero without one).
func decideSleep(vc *fleetv1.VirtualCluster, lastUsed, now time.Time) sleepDecision {
	if s := vc.Status.Sleep; inactive(vc) {
		// A request through the gateway since it fell asleep wakes it,
		// as does vfleet wake. A wake asked for in the future (a clock
		// off, or a tenant's hand) counts as of now, once.
		asked, err := time.Parse(time.RFC3339Nano, vc.Annotations[fleetv1.AnnotationWake])
		woken := err == nil && asked.After(s.Since.Time) && !asked.After(now.Add(time.Minute))
		return sleepDecision{wake: lastUsed.After(s.Since.Time) || woken}
	}
	after := vc.Spec.Sleep
	if after == nil || after.AfterInactivity == nil || after.AfterInactivity.Duration <= 0 || sleepAsked(vc) || vc.Status.Phase != fleetv1.PhaseReady {
		return sleepDecision{}
	}
	// Idle since its last use, or since it became Ready (created, woken,
	// moved), whichever is later.
	idleFrom := lastUsed
	if c := meta.FindStatusCondition(vc.Status.Conditions, fleetv1.ConditionReady); c != nil && c.LastTransitionTime.After(idleFrom) {
		idleFrom = c.LastTransitionTime.Time
	}
	left := after.AfterInactivity.Duration - now.Sub(idleFrom)
	if left <= 0 {
		return sleepDecision{sleep: true}
	}
	return sleepDecision{wait: left}
}

// reconcileSleep puts vc to sleep once its API has been idle for
// spec.sleep.afterInactivity, as the gateway's activity Lease tells, and
// wakes it when a request comes. It returns when to look again.
func (r *Reconciler) reconcileSleep(ctx context.Context, vc *fleetv1.VirtualCluster) (time.Duration, error) {
	if r.activity == nil || !watchesActivity(vc) {
		return 0, nil
	}
	lastUsed, err := r.lastUsed(ctx, vc)
	if err != nil {
		return 0, err
	}
	now := r.Clock.Now()
	d := decideSleep(vc, lastUsed, now)
	status := *vc.Status.DeepCopy()
	switch {
	case d.sleep:
		status.Sleep = &fleetv1.SleepStatus{Since: metav1.NewTime(now), Reason: fleetv1.SleepInactive}
		ctrl.LoggerFrom(ctx).Info("Putting an inactive vcluster to sleep", "virtualCluster", klog.KObj(vc), "afterInactivity", vc.Spec.Sleep.AfterInactivity.Duration, "lastUsed", lastUsed)
		r.eventf(vc, corev1.EventTypeNormal, fleetv1.ReasonSleeping, "Sleep", "no request for %s: sleeping until one comes", vc.Spec.Sleep.AfterInactivity.Duration)
	case d.wake:
		status.Sleep = nil
		ctrl.LoggerFrom(ctx).Info("Waking a vcluster for a request", "virtualCluster", klog.KObj(vc), "asleepSince", vc.Status.Sleep.Since.Time)
		r.eventf(vc, corev1.EventTypeNormal, fleetv1.ReasonWaking, "Wake", "a request came through the gateway: waking")
	default:
		return d.wait, nil
	}
	// A decision like an epoch's: over the status it was made from.
	return 0, r.writeDecision(ctx, vc, status)
}

// lastUsed is when the gateway last renewed vc's activity Lease.
func (r *Reconciler) lastUsed(ctx context.Context, vc *fleetv1.VirtualCluster) (time.Time, error) {
	lease := &coordinationv1.Lease{}
	err := r.activity.Get(ctx, client.ObjectKey{Namespace: r.IdentityNamespace, Name: fleetv1.ActivityLeaseName(vc.UID)}, lease)
	if apierrors.IsNotFound(err) {
		return time.Time{}, nil
	}
	if err != nil || lease.Spec.RenewTime == nil {
		return time.Time{}, err
	}
	return lease.Spec.RenewTime.Time, nil
}

// dropActivity deletes vc's activity Lease with it.
func (r *Reconciler) dropActivity(ctx context.Context, vc *fleetv1.VirtualCluster) error {
	if r.activity == nil {
		return nil
	}
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: r.IdentityNamespace, Name: fleetv1.ActivityLeaseName(vc.UID)}}
	return client.IgnoreNotFound(r.Client.Delete(ctx, lease))
}

// watchActivity reads the gateway's activity Leases through a cache of
// their own (the hub's main cache holds only hosts' Leases), and has a
// renewal bring back a vcluster asleep for inactivity: a request waiting
// for it is a renewal. Any other vcluster's renewals (every 10 s while it
// is used) wake no reconcile: when it falls idle is read at the time its
// reconcile asked to look again.
func (r *Reconciler) watchActivity(mgr ctrl.Manager) (source.Source, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		DefaultNamespaces:    map[string]cache.Config{r.IdentityNamespace: {}},
		DefaultLabelSelector: labels.SelectorFromSet(labels.Set{fleetv1.LabelActivity: "true"}),
	})
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(c); err != nil {
		return nil, err
	}
	r.activity = c
	return source.Kind(c, client.Object(&coordinationv1.Lease{}), handler.EnqueueRequestsFromMapFunc(r.wakeFor)), nil
}

// wakeFor is the vcluster of an activity Lease, if it sleeps until used.
func (r *Reconciler) wakeFor(ctx context.Context, lease client.Object) []reconcile.Request {
	reqs := toVirtualCluster(ctx, lease)
	if len(reqs) == 0 {
		return nil
	}
	vc := &fleetv1.VirtualCluster{}
	if err := r.Client.Get(ctx, reqs[0].NamespacedName, vc); err != nil || !inactive(vc) {
		return nil
	}
	return reqs
}
