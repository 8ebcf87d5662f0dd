package hostaccess

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// Finalizer holds a HostCluster until its agent's access is revoked.
const Finalizer = "fleet.vfleet.dev/host-access"

// Reconciler keeps every HostCluster's agent access in place, and revokes
// it when the HostCluster is deleted.
type Reconciler struct {
	Client client.Client
}

// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=hostclusters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=hostclusters/finalizers,verbs=update

// SetupWithManager registers the controller. It owns what Ensure creates,
// so a deleted Role or ServiceAccount comes back; the manager's cache should
// hold only objects labelled with fleet.vfleet.dev/host.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		return errors.New("hostaccess: Client is required")
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("hostaccess").
		For(&fleetv1.HostCluster{}).
		Owns(&corev1.Namespace{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		Owns(&rbacv1.ClusterRole{}).
		Owns(&rbacv1.ClusterRoleBinding{}).
		Complete(r)
}

// Reconcile ensures or revokes the host's agent access.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	host := &fleetv1.HostCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, host); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !host.DeletionTimestamp.IsZero() {
		if !controllerutil.ContainsFinalizer(host, Finalizer) {
			return ctrl.Result{}, nil
		}
		if err := Revoke(ctx, r.Client, host.Name); err != nil {
			return ctrl.Result{}, err
		}
		ctrl.LoggerFrom(ctx).Info("Revoked the agent's access", "hostCluster", klog.KObj(host))
		before := host.DeepCopy()
		controllerutil.RemoveFinalizer(host, Finalizer)
		return ctrl.Result{}, r.Client.Patch(ctx, host, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	}
	if !controllerutil.ContainsFinalizer(host, Finalizer) {
		before := host.DeepCopy()
		controllerutil.AddFinalizer(host, Finalizer)
		if err := r.Client.Patch(ctx, host, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, Ensure(ctx, r.Client, host)
}
