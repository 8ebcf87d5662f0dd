package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/vfleet/vfleet/agent/runtime"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// Finalizer holds a ControlPlane until its agent has stopped it and removed
// its processes, data and host namespace.
const Finalizer = "fleet.vfleet.dev/agent"

// controlPlanes runs the ControlPlanes of the agent's namespace through a
// runtime, and reports on them.
type controlPlanes struct {
	hub       client.Client // the agent's namespace on the hub, cached
	host      client.Client // the host cluster, uncached
	runtime   runtime.Runtime
	namespace string
	syncers   *syncerAccess
	// fence holds every control plane stopped while the host has lost the
	// hub; nil never fences.
	fence fencer

	// ensured records when each control plane's host namespace objects
	// were last made right, for which generation: every status change of
	// a control plane brings it back here, and a dozen reads on the host
	// each time would be waste. They are made right again after
	// reensureAfter, or at once for a new spec.
	mu      sync.Mutex
	ensured map[string]ensuredAt
}

// fencer says whether the host has fenced itself off, and when that ends.
type fencer interface {
	Fenced() bool
	Unfenced() <-chan struct{}
}

type ensuredAt struct {
	generation int64
	at         time.Time
}

// reensureAfter is how long a host namespace is trusted to be as it was
// made.
const reensureAfter = 10 * time.Minute

func (r *controlPlanes) hostNamespaceFresh(cp *fleetv1.ControlPlane) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.ensured[cp.Name]
	return ok && e.generation == cp.Generation && time.Since(e.at) < reensureAfter
}

func (r *controlPlanes) markHostNamespace(cp *fleetv1.ControlPlane) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ensured == nil {
		r.ensured = map[string]ensuredAt{}
	}
	r.ensured[cp.Name] = ensuredAt{generation: cp.Generation, at: time.Now()}
}

// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=controlplanes,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=controlplanes/status,verbs=get;update;patch

func (r *controlPlanes) setup(mgr manager.Manager) error {
	changed := make(chan event.GenericEvent)
	// The runtime tells of control planes that changed by themselves.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if mgr.GetCache().WaitForCacheSync(ctx) {
			r.collectOrphans(ctx, mgr.GetClient())
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case name := <-r.runtime.Changed():
				select {
				case changed <- event.GenericEvent{Object: &fleetv1.ControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: name}}}:
				case <-ctx.Done():
					return nil
				}
			case <-r.unfenced():
				r.collectOrphans(ctx, mgr.GetClient())
				// Every control plane is looked at again: started, or torn
				// down if the hub moved it while this host was away.
				var cps fleetv1.ControlPlaneList
				if err := mgr.GetClient().List(ctx, &cps, client.InNamespace(r.namespace)); err != nil {
					log.FromContext(ctx).Error(err, "Cannot list control planes after the fence ended")
					continue
				}
				for i := range cps.Items {
					select {
					case changed <- event.GenericEvent{Object: &cps.Items[i]}:
					case <-ctx.Done():
						return nil
					}
				}
			}
		}
	})); err != nil {
		return err
	}
	if starter, ok := r.runtime.(manager.Runnable); ok {
		if err := mgr.Add(starter); err != nil {
			return err
		}
	}
	return ctrl.ControllerManagedBy(mgr).
		Named("controlplane").
		For(&fleetv1.ControlPlane{}).
		// A rotated identity, or new store credentials, change a Secret
		// and not the ControlPlane that names it.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.usersOf)).
		WatchesRawSource(source.Channel(changed, &handler.EnqueueRequestForObject{})).
		// Starting is quick and waits for nothing; a few at once keep ten
		// creations from queueing behind each other.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(r)
}

// removeTenantPods deletes, once inst's control plane is asleep, the pods
// its syncer made in its host namespace: a sleeping vcluster runs nothing,
// and its syncer makes them again from the virtual pods when it wakes. The
// control plane's own pod (the kubernetes runtime's) is not one of them.
func (r *controlPlanes) removeTenantPods(ctx context.Context, inst runtime.Instance, state runtime.State) error {
	if state.Phase != fleetv1.ControlPlaneSleeping {
		return nil
	}
	ns := inst.Namespace
	sel := labels.SelectorFromSet(labels.Set{fleetv1.LabelManagedBy: fleetv1.ManagedByValue, fleetv1.LabelVirtualClusterUID: inst.Spec.VirtualCluster.UID})
	notControlPlane, err := labels.NewRequirement(fleetv1.LabelControlPlaneApp, selection.DoesNotExist, nil)
	if err != nil {
		return err
	}
	err = r.host.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel.Add(*notControlPlane)})
	if err != nil {
		return fmt.Errorf("remove the sleeping vcluster's pods from host namespace %s: %w", ns, err)
	}
	return nil
}

// usersOf are the ControlPlanes of the Secret's namespace that name it: as
// their identity or their store's credentials.
func (r *controlPlanes) usersOf(ctx context.Context, secret client.Object) []reconcile.Request {
	var cps fleetv1.ControlPlaneList
	if err := r.hub.List(ctx, &cps, client.InNamespace(secret.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "Listing the ControlPlanes that may use a Secret", "secret", klog.KObj(secret))
		return nil
	}
	var reqs []reconcile.Request
	for _, cp := range cps.Items {
		if name := secret.GetName(); cp.Spec.IdentitySecret == name || cp.Spec.Store.CredentialsSecret == name {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&cp)})
		}
	}
	return reqs
}

// collectOrphans removes what control planes the hub no longer places here
// left behind: their processes and data, their host namespaces and
// workloads. They are found when the hub gave up waiting for this host
// (it failed them over, then the vcluster was deleted, while the host was
// away): no ControlPlane is left to hold them.
func (r *controlPlanes) collectOrphans(ctx context.Context, hub client.Reader) {
	logger := log.FromContext(ctx)
	var cps fleetv1.ControlPlaneList
	if err := hub.List(ctx, &cps, client.InNamespace(r.namespace)); err != nil {
		logger.Error(err, "Cannot list control planes to collect orphans")
		return
	}
	names, uids := map[string]bool{}, map[string]bool{}
	for _, cp := range cps.Items {
		names[cp.Name], uids[cp.Spec.VirtualCluster.UID] = true, true
	}
	if lister, ok := r.runtime.(interface{ Names() []string }); ok {
		for _, name := range lister.Names() {
			if names[name] {
				continue
			}
			logger.Info("Removing a control plane the hub no longer places here", "controlPlane", name)
			if err := r.runtime.Remove(ctx, runtime.Instance{Name: name}); err != nil {
				logger.Error(err, "Cannot remove an orphaned control plane", "controlPlane", name)
			}
		}
	}
	var nss corev1.NamespaceList
	if err := r.host.List(ctx, &nss, client.MatchingLabels{fleetv1.LabelManagedBy: fleetv1.ManagedByValue}, client.HasLabels{fleetv1.LabelVirtualClusterUID}); err != nil {
		logger.Error(err, "Cannot list host namespaces to collect orphans")
		return
	}
	for i := range nss.Items {
		ns := &nss.Items[i]
		if uids[ns.Labels[fleetv1.LabelVirtualClusterUID]] || !ns.DeletionTimestamp.IsZero() {
			continue
		}
		logger.Info("Deleting the host namespace of a vcluster the hub no longer places here", "namespace", ns.Name)
		crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: nodeReaderBinding(ns.Name)}}
		if err := r.host.Delete(ctx, crb); client.IgnoreNotFound(err) != nil {
			logger.Error(err, "Cannot delete an orphaned binding", "clusterRoleBinding", crb.Name)
		}
		if err := r.host.Delete(ctx, ns, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			logger.Error(err, "Cannot delete an orphaned host namespace", "namespace", ns.Name)
		}
	}
}

// unfenced is the fence's end, or nil (which never delivers).
func (r *controlPlanes) unfenced() <-chan struct{} {
	if r.fence == nil {
		return nil
	}
	return r.fence.Unfenced()
}

func (r *controlPlanes) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	cp := &fleetv1.ControlPlane{}
	if err := r.hub.Get(ctx, req.NamespacedName, cp); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("virtualCluster", klog.KRef(cp.Spec.VirtualCluster.Namespace, cp.Spec.VirtualCluster.Name)))
	if !cp.DeletionTimestamp.IsZero() {
		return r.remove(ctx, cp)
	}
	if !controllerutil.ContainsFinalizer(cp, Finalizer) {
		before := cp.DeepCopy()
		controllerutil.AddFinalizer(cp, Finalizer)
		if err := r.hub.Patch(ctx, cp, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, err
		}
	}

	if r.fence != nil && r.fence.Fenced() {
		// Nothing starts until the hub hears from this host again; the
		// fence's end brings every control plane back here.
		return reconcile.Result{}, nil
	}

	backend, err := backendFor(ctx, r.hub, cp)
	if errors.Is(err, errNoCredentials) {
		// The hub's store provisioning writes them; its event brings us back.
		return reconcile.Result{RequeueAfter: 2 * time.Second}, r.report(ctx, cp, runtime.State{Phase: fleetv1.ControlPlanePending, Message: err.Error()}, fleetv1.ReasonStoreNotReady, nil)
	}
	if err != nil {
		return reconcile.Result{}, r.report(ctx, cp, runtime.State{Phase: fleetv1.ControlPlaneFailed, Message: err.Error()}, fleetv1.ReasonStoreNotReady, nil)
	}
	id, err := identityFor(ctx, r.hub, cp)
	if errors.Is(err, errNoIdentity) {
		// The hub writes it with the ControlPlane; its event, or this
		// retry, brings us back.
		return reconcile.Result{RequeueAfter: 2 * time.Second}, r.report(ctx, cp, runtime.State{Phase: fleetv1.ControlPlanePending, Message: err.Error()}, fleetv1.ReasonIdentityNotReady, nil)
	}
	if err != nil {
		return reconcile.Result{}, r.report(ctx, cp, runtime.State{Phase: fleetv1.ControlPlaneFailed, Message: err.Error()}, fleetv1.ReasonIdentityNotReady, nil)
	}
	// The control plane starts first: its apiserver takes seconds, and the
	// rest of the host namespace, and the syncer's token, can be made
	// meanwhile (the syncer starts only once the apiserver is ready). The
	// namespace itself must be there first for runtimes that run in it.
	objs := hostNamespaceObjects(cp)
	fresh := r.hostNamespaceFresh(cp)
	if !fresh {
		if err := ensureHostObjects(ctx, r.host, cp, objs[:1]); err != nil {
			return reconcile.Result{}, r.report(ctx, cp, runtime.State{Phase: fleetv1.ControlPlanePending, Message: err.Error()}, fleetv1.ReasonHostNamespaceFailed, err)
		}
	}
	inst := instanceOf(cp)
	inst.Backend, inst.Identity = backend, id
	inst.Sync = r.syncers.known(inst.Namespace)
	state, err := r.runtime.Ensure(ctx, inst)
	if err != nil {
		return reconcile.Result{}, r.report(ctx, cp, runtime.State{Phase: fleetv1.ControlPlaneFailed, Message: err.Error()}, fleetv1.ReasonStartFailed, err)
	}
	if !fresh {
		if err := ensureHostObjects(ctx, r.host, cp, objs[1:]); err != nil {
			state.Message = err.Error()
			return reconcile.Result{}, r.report(ctx, cp, state, fleetv1.ReasonHostNamespaceFailed, err)
		}
		r.markHostNamespace(cp)
	}
	access, err := r.syncers.sync(ctx, inst.Namespace)
	if err != nil {
		state.Message = err.Error()
		return reconcile.Result{}, r.report(ctx, cp, state, fleetv1.ReasonHostNamespaceFailed, err)
	}
	if access.HostToken != inst.Sync.HostToken {
		// A new token for the syncer: the runtime hands it over; the
		// control plane keeps running.
		inst.Sync = access
		if state, err = r.runtime.Ensure(ctx, inst); err != nil {
			return reconcile.Result{}, r.report(ctx, cp, runtime.State{Phase: fleetv1.ControlPlaneFailed, Message: err.Error()}, fleetv1.ReasonStartFailed, err)
		}
	}
	if err := r.removeTenantPods(ctx, inst, state); err != nil {
		state.Message = err.Error()
		return reconcile.Result{}, r.report(ctx, cp, state, fleetv1.ReasonHostNamespaceFailed, err)
	}
	if state.Kubeconfig != nil {
		if err := r.publishKubeconfig(ctx, cp, state.Kubeconfig); err != nil {
			return reconcile.Result{}, err
		}
	}
	if err := r.report(ctx, cp, state, "", nil); err != nil {
		return reconcile.Result{}, err
	}
	if state.RetryAfter > 0 {
		return reconcile.Result{RequeueAfter: state.RetryAfter}, nil
	}
	if state.Phase == fleetv1.ControlPlaneStarting && r.runtime.Changed() == nil {
		// This runtime does not say when it is ready; look again.
		return reconcile.Result{RequeueAfter: 2 * time.Second}, nil
	}
	// Renew the syncer's token in time.
	return reconcile.Result{RequeueAfter: tokenCheck}, nil
}

func instanceOf(cp *fleetv1.ControlPlane) runtime.Instance {
	inst := runtime.Instance{Name: cp.Name, Namespace: vclusterNamespace(cp), Generation: cp.Generation, Spec: cp.Spec}
	if !runningAtItsEpoch(cp) {
		// A start of a create or move joins its trace; a later restart
		// of a crashed process is not part of it.
		inst.Traceparent = cp.Annotations[fleetv1.AnnotationTraceparent]
	}
	return inst
}

// runningAtItsEpoch says whether the agent has reported cp running at the
// epoch it asks for.
func runningAtItsEpoch(cp *fleetv1.ControlPlane) bool {
	return cp.Status.Phase == fleetv1.ControlPlaneRunning && cp.Status.Epoch == cp.Spec.Epoch
}

// remove stops the control plane and deletes all it left: processes, data,
// host namespace, published kubeconfig. Only then may the ControlPlane go.
func (r *controlPlanes) remove(ctx context.Context, cp *fleetv1.ControlPlane) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(cp, Finalizer) {
		return reconcile.Result{}, nil
	}
	if err := r.runtime.Remove(ctx, instanceOf(cp)); err != nil {
		return reconcile.Result{}, err
	}
	r.syncers.forget(vclusterNamespace(cp))
	r.mu.Lock()
	delete(r.ensured, cp.Name)
	r.mu.Unlock()
	gone, err := deleteHostNamespace(ctx, r.host, cp)
	if err != nil {
		return reconcile.Result{}, err
	}
	if !gone {
		// The namespace controller is still emptying it.
		return reconcile.Result{RequeueAfter: time.Second}, nil
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: cp.Namespace, Name: fleetv1.PublishedKubeconfigSecret(cp.Name)}}
	if err := r.hub.Delete(ctx, secret); client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	}
	before := cp.DeepCopy()
	controllerutil.RemoveFinalizer(cp, Finalizer)
	if err := r.hub.Patch(ctx, cp, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	}
	log.FromContext(ctx).Info("Removed control plane and its host namespace", "controlPlane", cp.Name)
	return reconcile.Result{}, nil
}

// publishKubeconfig writes the admin kubeconfig into the agent's namespace
// on the hub, which copies it next to the VirtualCluster.
func (r *controlPlanes) publishKubeconfig(ctx context.Context, cp *fleetv1.ControlPlane, kc []byte) error {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: cp.Namespace, Name: fleetv1.PublishedKubeconfigSecret(cp.Name)}}
	err := r.hub.Get(ctx, client.ObjectKeyFromObject(secret), secret)
	if err == nil && string(secret.Data[fleetv1.KubeconfigKey]) == string(kc) && secret.Labels[fleetv1.LabelVirtualClusterUID] == cp.Spec.VirtualCluster.UID {
		return nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	_, err = controllerutil.CreateOrUpdate(ctx, r.hub, secret, func() error {
		secret.Labels = ownerLabels(cp)
		secret.Type = corev1.SecretTypeOpaque
		secret.Data = map[string][]byte{fleetv1.KubeconfigKey: kc}
		return controllerutil.SetControllerReference(cp, secret, r.hub.Scheme())
	})
	return err
}

// report writes what the agent observed into the ControlPlane's status.
func (r *controlPlanes) report(ctx context.Context, cp *fleetv1.ControlPlane, s runtime.State, reason string, cause error) error {
	before := cp.DeepCopy()
	cp.Status.ObservedGeneration = cp.Generation
	cp.Status.Phase = s.Phase
	cp.Status.Epoch = cp.Spec.Epoch
	cp.Status.Endpoint = s.Endpoint
	cp.Status.Restarts = s.Restarts
	cond := metav1.Condition{Type: fleetv1.ConditionReady, Status: metav1.ConditionFalse, ObservedGeneration: cp.Generation, Message: s.Message}
	switch {
	case reason != "":
		cond.Reason = reason
	case s.Phase == fleetv1.ControlPlaneRunning:
		cond.Status, cond.Reason = metav1.ConditionTrue, fleetv1.ReasonRunning
		if cond.Message == "" {
			cond.Message = "the apiserver answers at " + s.Endpoint
		}
	case s.Phase == fleetv1.ControlPlaneFailed:
		cond.Reason = fleetv1.ReasonStartFailed
	case s.Phase == fleetv1.ControlPlaneSleeping:
		cond.Reason = fleetv1.ReasonSleeping
	case s.Phase == fleetv1.ControlPlanePending:
		// Pending with no reason of the agent's own: the runtime queued
		// its start.
		cond.Reason = fleetv1.ReasonWaitingToStart
	default:
		cond.Reason = fleetv1.ReasonStarting
		if cond.Message == "" {
			cond.Message = "waiting for the apiserver to be ready"
		}
	}
	meta.SetStatusCondition(&cp.Status.Conditions, cond)
	if err := r.hub.Status().Patch(ctx, cp, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("report status: %w", err)
	}
	now := time.Now()
	observeReport(before, cp, now)
	traceReport(ctx, before, cp, now)
	return cause
}
