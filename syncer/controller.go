package syncer

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

type reconcileRequest = reconcile.Request

// Retry is how soon an object is looked at again after a conflict or a
// cache that was behind: soon, and without an error in the log.
const Retry = 100 * time.Millisecond

// Reasons of the Events the syncer records on virtual objects.
const (
	ReasonHostConflict = "HostConflict"
	ReasonSyncFailed   = "SyncFailed"
)

// controllerFor is the generic controller of one resource: its key is the
// virtual object's, and each pass makes the host agree with it.
type controllerFor struct {
	res Resource
	s   *Context
}

// setup registers the resource's controller: virtual objects of the kind,
// and host objects of the kind mapped back to theirs.
func setup(mgr ctrl.Manager, host cluster.Cluster, s *Context, res Resource, workers int) error {
	c := &controllerFor{res: res, s: s}
	toVirtual := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		if key, ok := VirtualKey(obj); ok {
			return []reconcile.Request{{NamespacedName: key}}
		}
		return nil
	})
	b := ctrl.NewControllerManagedBy(mgr).
		Named("sync-" + strings.ToLower(res.Kind())).
		For(res.NewObject()).
		WatchesRawSource(source.Kind(host.GetCache(), res.NewObject(), toVirtual)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers})
	if w, ok := res.(Watcher); ok {
		for _, src := range w.Watches(mgr, s) {
			b = b.WatchesRawSource(src)
		}
	}
	return b.Complete(c)
}

// Reconcile makes the host agree with the virtual object. A conflict (the
// object was written meanwhile) is retried quietly: the next pass reads the
// newer object, and the logs are not the place for it.
func (c *controllerFor) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	result, err := c.reconcile(ctx, req)
	if apierrors.IsConflict(err) {
		return reconcile.Result{RequeueAfter: Retry}, nil
	}
	if err != nil {
		syncErrors.WithLabelValues(c.res.Kind(), errorReason(err)).Inc()
	}
	return result, err
}

func (c *controllerFor) reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	s, res := c.s, c.res
	log := ctrl.LoggerFrom(ctx)
	virtual, exists, err := c.getVirtual(ctx, req.NamespacedName)
	if err != nil {
		return reconcile.Result{}, err
	}
	host := res.NewObject()
	hostKey := client.ObjectKey{Namespace: s.HostNamespace, Name: s.HostName(req.Name, req.Namespace)}
	hostErr := s.Host.Get(ctx, hostKey, host)
	if hostErr != nil && !apierrors.IsNotFound(hostErr) {
		return reconcile.Result{}, hostErr
	}
	hostExists := hostErr == nil

	wanted, err := c.wanted(ctx, virtual, exists)
	if err != nil {
		return reconcile.Result{}, err
	}
	if hostExists && !s.Owns(host) {
		if !wanted {
			// Not ours, and nothing of ours would take its name: the
			// Endpoints the host's own controller makes for a synced
			// Service with a selector, say. Nothing to report.
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, c.conflict(virtual, exists, hostKey)
	}
	// A host object made for an earlier virtual object of the same name is
	// stale: it goes before the new one is made.
	_, byName := res.(NameIdentity)
	if hostExists && exists && !byName && host.GetAnnotations()[AnnotationVirtualUID] != string(virtual.GetUID()) {
		return reconcile.Result{RequeueAfter: Retry}, deleteHost(ctx, s, host)
	}
	if !wanted {
		if hostExists {
			log.V(1).Info("Deleting host object", "kind", res.Kind(), "host", klog.KObj(host))
			return reconcile.Result{}, deleteHost(ctx, s, host)
		}
		if exists && !virtual.GetDeletionTimestamp().IsZero() {
			if f, ok := res.(Finisher); ok {
				return reconcile.Result{}, f.Finish(ctx, s, virtual)
			}
		}
		return reconcile.Result{}, nil
	}

	desired, err := res.ToHost(ctx, s, virtual)
	if refusal, ok := err.(*Refusal); ok {
		refusals.WithLabelValues(res.Kind(), refusal.Reason).Inc()
		s.Recorder.Eventf(virtual, nil, corev1.EventTypeWarning, refusal.Reason, "Sync", "%s", refusal.Message)
		if hostExists {
			return reconcile.Result{}, deleteHost(ctx, s, host)
		}
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	desired.SetName(hostKey.Name)
	desired.SetNamespace(hostKey.Namespace)
	s.Mark(desired, virtual)
	if !hostExists {
		if su, ok := res.(SubresourceUpdater); ok {
			desired = su.ForCreate(desired)
		}
		err := s.Host.Create(ctx, desired)
		if fb, ok := res.(Fallback); ok && err != nil && !apierrors.IsAlreadyExists(err) {
			if alt := fb.Fallback(desired, err); alt != nil {
				log.V(1).Info("Host refused the object; creating its fallback", "kind", res.Kind(), "host", klog.KObj(desired), "refused", err.Error())
				desired, err = alt, s.Host.Create(ctx, alt)
			}
		}
		if err != nil {
			if apierrors.IsAlreadyExists(err) {
				// Not in the cache, which holds only what the syncer
				// marked: someone else's, or ours and the cache is behind.
				live := res.NewObject()
				if err := s.HostLive.Get(ctx, hostKey, live); err == nil && !s.Owns(live) {
					return reconcile.Result{}, c.conflict(virtual, true, hostKey)
				}
				return reconcile.Result{RequeueAfter: Retry}, nil
			}
			s.Recorder.Eventf(virtual, nil, corev1.EventTypeWarning, ReasonSyncFailed, "Sync", "the host refused the %s: %s", res.Kind(),
				VirtualNames(desired, client.ObjectKeyFromObject(virtual), s.HostNamespace).Replace(err.Error()))
			return reconcile.Result{}, err
		}
		log.V(1).Info("Created host object", "kind", res.Kind(), "host", klog.KObj(desired))
		host = desired
	} else if err := c.updateHost(ctx, desired, host, virtual); err != nil {
		return reconcile.Result{}, err
	}
	if err := res.ToVirtual(ctx, s, host, virtual); err != nil {
		return reconcile.Result{}, err
	}
	if r, ok := res.(Requeuer); ok {
		return reconcile.Result{RequeueAfter: r.RequeueAfter(virtual)}, nil
	}
	return reconcile.Result{}, nil
}

// updateHost brings the existing host object to agree with desired, the
// virtual object's copy: by an update, and by the subresource that takes
// what an update does not (a pod's resize).
func (c *controllerFor) updateHost(ctx context.Context, desired, host, virtual client.Object) error {
	s, res := c.s, c.res
	if res.UpdateHost(desired, host) || host.GetAnnotations()[AnnotationVirtualUID] != string(virtual.GetUID()) {
		s.Mark(host, virtual)
		if err := s.Host.Update(ctx, host); err != nil {
			return err
		}
	}
	su, ok := res.(SubresourceUpdater)
	if !ok {
		return nil
	}
	// Each subresource takes only its own part of what is sent, and
	// answers with the object as it now stands: one at a time.
	for range maxSubresources {
		sub := su.UpdateHostSubresource(desired, host)
		if sub == "" {
			return nil
		}
		if err := s.Host.SubResource(sub).Update(ctx, host); err != nil {
			s.Recorder.Eventf(virtual, nil, corev1.EventTypeWarning, ReasonSyncFailed, "Sync", "the host refused the %s's %s: %s", res.Kind(), sub,
				VirtualNames(host, client.ObjectKeyFromObject(virtual), s.HostNamespace).Replace(err.Error()))
			return err
		}
	}
	return nil
}

// maxSubresources bounds the subresource updates of one pass: a resource
// whose subresource takes nothing of a change must not loop.
const maxSubresources = 4

// getVirtual reads the virtual object of key and whether it exists. The
// cache may be behind (an object the syncer itself just made again): only
// the API server's word that it is gone deletes a host copy.
func (c *controllerFor) getVirtual(ctx context.Context, key client.ObjectKey) (client.Object, bool, error) {
	virtual := c.res.NewObject()
	err := c.s.Virtual.Get(ctx, key, virtual)
	if err == nil || !apierrors.IsNotFound(err) {
		return virtual, err == nil, err
	}
	err = c.s.VirtualLive.Get(ctx, key, virtual)
	if err != nil && !apierrors.IsNotFound(err) {
		return virtual, false, err
	}
	return virtual, err == nil, nil
}

// wanted reports whether virtual should have a host copy: it exists, is
// not being deleted, and its resource wants it.
func (c *controllerFor) wanted(ctx context.Context, virtual client.Object, exists bool) (bool, error) {
	if !exists || !virtual.GetDeletionTimestamp().IsZero() {
		return false, nil
	}
	if w, ok := c.res.(Wanted); ok {
		return w.Wanted(ctx, c.s, virtual)
	}
	return true, nil
}

// conflict reports a host object of the syncer's name for virtual that the
// syncer did not make. It is never overwritten or deleted; nothing is
// retried until something changes.
func (c *controllerFor) conflict(virtual client.Object, exists bool, _ client.ObjectKey) error {
	if exists {
		syncErrors.WithLabelValues(c.res.Kind(), ReasonHostConflict).Inc()
		c.s.Recorder.Eventf(virtual, nil, corev1.EventTypeWarning, ReasonHostConflict, "Sync",
			"a %s of this name exists on the host and was not made by this vcluster's syncer; it is left alone: rename this one", c.res.Kind())
	}
	return nil
}

// deleteHost deletes a host object the syncer owns.
func deleteHost(ctx context.Context, s *Context, host client.Object) error {
	return client.IgnoreNotFound(s.Host.Delete(ctx, host, client.Preconditions{UID: ptr.To(host.GetUID())}))
}
