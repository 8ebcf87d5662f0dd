package hostaccess_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/config"
	"github.com/vfleet/vfleet/controllers/hostaccess"
	"github.com/vfleet/vfleet/hub"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/envtest"
)

var (
	k8s     client.Client
	restCfg *rest.Config
)

func TestMain(m *testing.M) {
	envtest.Main(m, envtest.Suite{
		CRDs:           true,
		ManagerOptions: ctrl.Options{Cache: hub.CacheOptions()},
		Controllers: func(mgr ctrl.Manager) error {
			return (&hostaccess.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)
		},
		// Direct reads: the tests check what the API server holds.
		Setup: func(e envtest.Env) (func(), error) {
			restCfg, k8s = e.Config, e.Client
			return nil, config.InstallPolicies(context.Background(), e.Config)
		},
	})
}

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	gomega.NewWithT(t).Eventually(cond).WithTimeout(20*time.Second).WithPolling(50*time.Millisecond).Should(gomega.Succeed(), what)
}

// asAgent is a client authenticated as host's agent, by impersonation.
func asAgent(t *testing.T, host string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(restCfg)
	ns := fleetv1.HostNamespace(host)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: hostaccess.AgentUser(host),
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	c, err := client.New(cfg, client.Options{Scheme: apis.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func objectsOf(host string) []client.Object {
	ns := fleetv1.HostNamespace(host)
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetv1.AgentServiceAccount}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vfleet-agent"}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vfleet-agent"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: hostaccess.ClusterRoleName(host)}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: hostaccess.ClusterRoleName(host)}},
	}
}

func createHost(t *testing.T, name string) *fleetv1.HostCluster {
	t.Helper()
	host := builder.MakeHostCluster(name, "region-a").Obj()
	if err := k8s.Create(context.Background(), host); err != nil {
		t.Fatal(err)
	}
	eventually(t, "access objects of "+name, func() error {
		for _, obj := range objectsOf(name) {
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
				return err
			}
		}
		return nil
	})
	return host
}

func expectForbidden(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s: got %v, want 403 Forbidden", what, err)
	}
}

func TestAgentAccessIsConfinedToItsHost(t *testing.T) {
	ctx := context.Background()
	createHost(t, "alpha")
	createHost(t, "beta")
	agent := asAgent(t, "alpha")

	// What it may do: its Lease, its status, its namespace's secrets.
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1.HostNamespace("alpha"), Name: fleetv1.AgentLeaseName}}
	if err := agent.Create(ctx, lease); err != nil {
		t.Fatalf("agent cannot create its Lease: %v", err)
	}
	own := &fleetv1.HostCluster{}
	if err := agent.Get(ctx, client.ObjectKey{Name: "alpha"}, own); err != nil {
		t.Fatalf("agent cannot read its HostCluster: %v", err)
	}
	before := own.DeepCopy()
	own.Status.Nodes = 3
	if err := agent.Status().Patch(ctx, own, client.MergeFrom(before)); err != nil {
		t.Fatalf("agent cannot write its status: %v", err)
	}
	if err := agent.List(ctx, &corev1.SecretList{}, client.InNamespace(fleetv1.HostNamespace("alpha"))); err != nil {
		t.Fatalf("agent cannot list its secrets: %v", err)
	}

	// What it may not: anything of another host, anything cluster-wide.
	other := &fleetv1.HostCluster{}
	expectForbidden(t, "read another HostCluster", agent.Get(ctx, client.ObjectKey{Name: "beta"}, other))
	if err := k8s.Get(ctx, client.ObjectKey{Name: "beta"}, other); err != nil {
		t.Fatal(err)
	}
	before = other.DeepCopy()
	other.Status.Nodes = 99
	expectForbidden(t, "write another HostCluster's status", agent.Status().Patch(ctx, other, client.MergeFrom(before)))
	expectForbidden(t, "write its own spec", agent.Patch(ctx, own, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"unschedulable":true}}`))))
	expectForbidden(t, "list another host's secrets", agent.List(ctx, &corev1.SecretList{}, client.InNamespace(fleetv1.HostNamespace("beta"))))
	expectForbidden(t, "create a Lease in another host's namespace", agent.Create(ctx,
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1.HostNamespace("beta"), Name: "x"}}))
	expectForbidden(t, "list HostClusters", agent.List(ctx, &fleetv1.HostClusterList{}))
	expectForbidden(t, "list namespaces", agent.List(ctx, &corev1.NamespaceList{}))
}

func TestDeletedAccessIsRestored(t *testing.T) {
	ctx := context.Background()
	createHost(t, "gamma")
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1.HostNamespace("gamma"), Name: "vfleet-agent"}}
	if err := k8s.Delete(ctx, role); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Role recreated", func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(role), role) })
}

func TestDeletingTheHostRevokesAccess(t *testing.T) {
	ctx := context.Background()
	host := createHost(t, "delta")
	eventually(t, "finalizer", func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(host), host); err != nil {
			return err
		}
		if !controllerutil.ContainsFinalizer(host, hostaccess.Finalizer) {
			return fmt.Errorf("finalizers %v", host.Finalizers)
		}
		return nil
	})
	if err := k8s.Delete(ctx, host); err != nil {
		t.Fatal(err)
	}
	eventually(t, "host gone", func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(host), host); !apierrors.IsNotFound(err) {
			return fmt.Errorf("host still there: %v", err)
		}
		return nil
	})
	for _, obj := range objectsOf("delta") {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		if ns, ok := obj.(*corev1.Namespace); ok && err == nil {
			// envtest runs no namespace controller: the namespace stays
			// Terminating, but it is being deleted.
			if ns.DeletionTimestamp.IsZero() {
				t.Errorf("namespace %s not deleted", ns.Name)
			}
			continue
		}
		if !apierrors.IsNotFound(err) {
			t.Errorf("%T %s survived revocation: %v", obj, obj.GetName(), err)
		}
	}
}
