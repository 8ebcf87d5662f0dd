package hostaccess

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// agentRoleName names the Role and RoleBinding in a host's namespace.
const agentRoleName = "vfleet-agent"

// ClusterRoleName names the ClusterRole and ClusterRoleBinding that let a
// host's agent read its HostCluster and write its status, and no other.
func ClusterRoleName(host string) string { return "vfleet:host:" + host }

// AgentUser is the username the host's agent authenticates as.
func AgentUser(host string) string {
	return "system:serviceaccount:" + fleetv1.HostNamespace(host) + ":" + fleetv1.AgentServiceAccount
}

// agentNamespaceRules are the agent's rights inside its own namespace.
var agentNamespaceRules = []rbacv1.PolicyRule{
	{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}},
	// Updates only to hold a ControlPlane with its finalizer until the host
	// is clean.
	{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"controlplanes"}, Verbs: []string{"get", "list", "watch", "update", "patch"}},
	{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"controlplanes/status"}, Verbs: []string{"get", "update", "patch"}},
	// Store credentials of its control planes, and the kubeconfigs it
	// publishes for the hub.
	{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
	{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	// Renewing its own token, so it does not need the bootstrap token again.
	{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, Verbs: []string{"create"}, ResourceNames: []string{fleetv1.AgentServiceAccount}},
}

// +kubebuilder:rbac:groups="",resources=namespaces;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings;clusterroles;clusterrolebindings,verbs=get;list;watch;create;update;patch;delete
// What the hub grants agents, it must hold itself:
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=controlplanes,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=controlplanes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=serviceaccounts/token,verbs=create
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=hostclusters,verbs=get
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=hostclusters/status,verbs=get;update;patch

// Ensure creates or repairs everything the host's agent needs. It is
// idempotent; every object is owned by the HostCluster and labelled with
// its name.
func Ensure(ctx context.Context, c client.Client, host *fleetv1.HostCluster) error {
	ns := fleetv1.HostNamespace(host.Name)
	name := ClusterRoleName(host.Name)
	objects := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetv1.AgentServiceAccount}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: agentRoleName}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: agentRoleName}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}},
	}
	for _, obj := range objects {
		// The join server and this package's controller both ensure a new
		// host's objects, so either may find one made since it looked.
		err := retry.OnError(retry.DefaultRetry, func(err error) bool {
			return apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err)
		}, func() error {
			_, err := controllerutil.CreateOrUpdate(ctx, c, obj, func() error { return grant(c, host, obj) })
			return err
		})
		if err != nil {
			return fmt.Errorf("host %s: ensure %T %s: %w", host.Name, obj, client.ObjectKeyFromObject(obj), err)
		}
	}
	return nil
}

// grant makes obj, one of the objects of a host's access, what it must be.
func grant(c client.Client, host *fleetv1.HostCluster, obj client.Object) error {
	name := ClusterRoleName(host.Name)
	agent := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: fleetv1.HostNamespace(host.Name), Name: fleetv1.AgentServiceAccount}
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[fleetv1.LabelHost] = host.Name
	labels[fleetv1.LabelManagedBy] = fleetv1.ManagedByValue
	obj.SetLabels(labels)
	switch o := obj.(type) {
	case *rbacv1.Role:
		o.Rules = agentNamespaceRules
	case *rbacv1.RoleBinding:
		o.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: agentRoleName}
		o.Subjects = []rbacv1.Subject{agent}
	case *rbacv1.ClusterRole:
		o.Rules = []rbacv1.PolicyRule{
			{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"hostclusters"}, Verbs: []string{"get"}, ResourceNames: []string{host.Name}},
			{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"hostclusters/status"}, Verbs: []string{"get", "update", "patch"}, ResourceNames: []string{host.Name}},
		}
	case *rbacv1.ClusterRoleBinding:
		o.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
		o.Subjects = []rbacv1.Subject{agent}
	}
	// Controlled by the host: the controller repairs what is
	// changed or deleted, and garbage collection revokes what the
	// finalizer might miss.
	return controllerutil.SetControllerReference(host, obj, c.Scheme())
}

// Revoke deletes the agent's credentials and rights. The ServiceAccount goes
// first: every token issued for it stops working at once.
func Revoke(ctx context.Context, c client.Client, host string) error {
	ns := fleetv1.HostNamespace(host)
	for _, obj := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetv1.AgentServiceAccount}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleName(host)}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ClusterRoleName(host)}},
		// The namespace takes these with it, but only once the namespace
		// controller gets to it; revocation should not wait.
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: agentRoleName}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: agentRoleName}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
	} {
		if err := c.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("host %s: revoke %T %s: %w", host, obj, client.ObjectKeyFromObject(obj), err)
		}
	}
	return nil
}
