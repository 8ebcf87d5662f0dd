package virtualcluster_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/internal/builder"
	"github.com/vfleet/vfleet/internal/postgres"
	"github.com/vfleet/vfleet/test/pgtest"
)

// TestProvisionsAndDropsTheExternalDatabase places an External vcluster on
// a real PostgreSQL BackingStore: the hub makes its database and a login
// for its epoch, whose credentials the ControlPlane names and which can
// use the database; deleting the vcluster drops them.
func TestProvisionsAndDropsTheExternalDatabase(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)

	admin := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pg-admin-provision"},
		StringData: map[string]string{"username": postgres.AdminUser, "password": pg.AdminPassword()}}
	if err := k8s.Create(ctx, admin); err != nil {
		t.Fatal(err)
	}
	bs := &fleetv1.BackingStore{ObjectMeta: metav1.ObjectMeta{Name: "pg-provision"}, Spec: fleetv1.BackingStoreSpec{
		Driver: fleetv1.DriverPostgreSQL, Endpoint: pg.Endpoint(), Region: "r-provision",
		AdminCredentials: fleetv1.SecretReference{Namespace: "default", Name: admin.Name},
	}}
	if err := k8s.Create(ctx, bs); err != nil {
		t.Fatal(err)
	}
	meta.SetStatusCondition(&bs.Status.Conditions, metav1.Condition{Type: fleetv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Test", Message: "ok"})
	if err := k8s.Status().Update(ctx, bs); err != nil {
		t.Fatal(err)
	}
	addHost(t, "provision-a", "r-provision", "8")
	vc := builder.MakeVirtualCluster("default", "external").CPU("1").Regions("r-provision").External(bs.Name).Obj()
	if err := k8s.Create(ctx, vc); err != nil {
		t.Fatal(err)
	}
	vc = placedOn(t, vc, "provision-a")

	cp := &fleetv1.ControlPlane{}
	secret := &corev1.Secret{}
	eventually(t, func(g gomega.Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace("provision-a"), Name: virtualcluster.ControlPlaneName(vc)}, cp)).To(gomega.Succeed())
		g.Expect(cp.Spec.Store.Database).To(gomega.Equal(virtualcluster.StoreDatabase(vc)))
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: cp.Namespace, Name: cp.Spec.Store.CredentialsSecret}, secret)).To(gomega.Succeed())
	})
	conn, err := pgx.Connect(ctx, postgres.URL(pg.Endpoint(), cp.Spec.Store.Database, string(secret.Data["username"]), string(secret.Data["password"]), ""))
	if err != nil {
		t.Fatalf("the epoch's credentials do not open the database: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE probe (x int)"); err != nil {
		t.Fatalf("the epoch cannot write: %v", err)
	}
	_ = conn.Close(ctx)

	if err := k8s.Delete(ctx, vc); err != nil {
		t.Fatal(err)
	}
	eventually(t, func(g gomega.Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(vc), &fleetv1.VirtualCluster{}))).To(gomega.BeTrue())
	})
	c, err := pg.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(ctx) }()
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", virtualcluster.StoreDatabase(vc)).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the database outlived its vcluster: %d, %v", n, err)
	}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret); !apierrors.IsNotFound(err) {
		t.Fatalf("the credentials Secret outlived its vcluster: %v", err)
	}
}
