package config_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/config"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/envtest"
)

var env envtest.Env

func TestMain(m *testing.M) {
	envtest.Main(m, envtest.Suite{CRDs: true, Setup: func(e envtest.Env) (func(), error) {
		env = e
		if err := config.InstallPolicies(context.Background(), e.Config); err != nil {
			return nil, err
		}
		return nil, config.InstallTenantRoles(context.Background(), e.Config)
	}})
}

// TestTenantRoles: a tenant bound as the README says manages the
// VirtualClusters of its namespace and reads their kubeconfigs, sees which
// classes exist, and reaches nothing else of the fleet.
func TestTenantRoles(t *testing.T) {
	ctx := context.Background()
	admin := env.Client
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-b"}},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "alice"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "vfleet-tenant"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "alice"}},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "tenants-see-classes"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "vfleet-tenant-classes"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "tenants"}},
		},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "demo-kubeconfig"}},
		builder.MakeClass("gold"),
	} {
		if err := admin.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	alice := impersonate(t, "alice", "tenants")

	vc := builder.MakeVirtualCluster("tenant-a", "demo").Class("gold").Obj()
	for what, err := range map[string]error{
		"create a VirtualCluster in its namespace": alice.Create(ctx, vc),
		"list them":                alice.List(ctx, &fleetv1.VirtualClusterList{}, client.InNamespace("tenant-a")),
		"read a kubeconfig Secret": alice.Get(ctx, client.ObjectKey{Namespace: "tenant-a", Name: "demo-kubeconfig"}, &corev1.Secret{}),
		"list the classes":         alice.List(ctx, &fleetv1.VirtualClusterClassList{}),
	} {
		if err != nil {
			t.Errorf("a tenant cannot %s: %v", what, err)
		}
	}
	status := vc.DeepCopy()
	status.Status.Host = "anywhere"
	for what, err := range map[string]error{
		"create a VirtualCluster in another namespace": alice.Create(ctx, builder.MakeVirtualCluster("tenant-b", "x").Obj()),
		"write a VirtualCluster's status":              alice.Status().Update(ctx, status),
		"list the namespace's Secrets":                 alice.List(ctx, &corev1.SecretList{}, client.InNamespace("tenant-a")),
		"write a Secret":                               alice.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "mine"}}),
		"write a class":                                alice.Create(ctx, builder.MakeClass("platinum")),
		"list hosts":                                   alice.List(ctx, &fleetv1.HostClusterList{}),
		"list BackingStores":                           alice.List(ctx, &fleetv1.BackingStoreList{}),
		"list ControlPlanes":                           alice.List(ctx, &fleetv1.ControlPlaneList{}),
		"list another namespace's VirtualClusters":     alice.List(ctx, &fleetv1.VirtualClusterList{}, client.InNamespace("tenant-b")),
	} {
		if !apierrors.IsForbidden(err) {
			t.Errorf("a tenant could %s: %v, want 403", what, err)
		}
	}
	if err := alice.Delete(ctx, vc); err != nil {
		t.Errorf("a tenant cannot delete its VirtualCluster: %v", err)
	}
}

// impersonate is a client of the envtest API server acting as user, in
// groups and system:authenticated.
func impersonate(t *testing.T, user string, groups ...string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated")}
	c, err := client.New(cfg, client.Options{Scheme: apis.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
