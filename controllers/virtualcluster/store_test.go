package virtualcluster_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/onsi/gomega"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/internal/pki"
	"github.com/vfleet/vfleet/lab/pgserver"
	"github.com/vfleet/vfleet/stores"
	"github.com/vfleet/vfleet/stores/etcdstore"
	"github.com/vfleet/vfleet/stores/postgres"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/etcdtest"
	"github.com/vfleet/vfleet/test/pgtest"
)

// TestProvisionsAndDropsTheExternalDatabase places an External vcluster on
// a real PostgreSQL BackingStore: the hub makes its database and a login
// for its epoch, whose credentials the ControlPlane names and which can
// use the database; deleting the vcluster drops them.
func TestProvisionsAndDropsTheExternalDatabase(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)

	vc, cp, secret := placeOnStore(t, "pg-provision", fleetv1.BackingStoreSpec{Driver: fleetv1.DriverPostgreSQL, Endpoint: pg.Endpoint()},
		map[string][]byte{"username": []byte(pgserver.AdminUser), "password": []byte(pg.AdminPassword())}, nil)
	if cp.Spec.Store.Database != stores.Space(fleetv1.DriverPostgreSQL, vc.UID) {
		t.Fatalf("the ControlPlane names database %q", cp.Spec.Store.Database)
	}
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
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", stores.Space(fleetv1.DriverPostgreSQL, vc.UID)).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the database outlived its vcluster: %d, %v", n, err)
	}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret); !apierrors.IsNotFound(err) {
		t.Fatalf("the credentials Secret outlived its vcluster: %v", err)
	}
}

// TestProvisionsAndDropsTheExternalEtcdPrefix places an External vcluster
// on a real etcd BackingStore: the hub makes its role and a user for its
// epoch, whose certificate the ControlPlane's credentials Secret holds and
// which may write below the vcluster's prefix only; deleting the vcluster
// deletes its keys, users and role.
func TestProvisionsAndDropsTheExternalEtcdPrefix(t *testing.T) {
	ctx := context.Background()
	s := etcdtest.Start(t)
	adminData, caData := stores.EtcdSecrets(s.Creds)
	vc, cp, secret := placeOnStore(t, "etcd-provision", fleetv1.BackingStoreSpec{Driver: fleetv1.DriverEtcd, Endpoint: s.Endpoint}, adminData, caData)
	if want := "/vfleet-" + string(vc.UID); cp.Spec.Store.Database != want {
		t.Fatalf("the ControlPlane names prefix %q, want %q", cp.Spec.Store.Database, want)
	}
	epoch := epochClient(t, s.Endpoint, secret)
	if _, err := epoch.Put(ctx, cp.Spec.Store.Database+"/registry/probe", "x"); err != nil {
		t.Fatalf("the epoch cannot write below its prefix: %v", err)
	}
	if _, err := epoch.Put(ctx, "/elsewhere", "x"); err == nil {
		t.Fatal("the epoch writes outside its prefix")
	}

	if err := k8s.Delete(ctx, vc); err != nil {
		t.Fatal(err)
	}
	eventually(t, func(g gomega.Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(vc), &fleetv1.VirtualCluster{}))).To(gomega.BeTrue())
	})
	if keys, users, roles := s.Leftovers(t, cp.Spec.Store.Database); keys != 0 || len(users) != 0 || len(roles) != 0 {
		t.Fatalf("after the vcluster: %d keys, users %v, roles %v", keys, users, roles)
	}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret); !apierrors.IsNotFound(err) {
		t.Fatalf("the credentials Secret outlived its vcluster: %v", err)
	}
}

// placeOnStore registers a Ready BackingStore named name, with its admin
// (and CA, if given) Secret, places an External vcluster on it, and
// returns the vcluster, its ControlPlane and its epoch's credentials.
func placeOnStore(t *testing.T, name string, spec fleetv1.BackingStoreSpec, adminData, caData map[string][]byte) (*fleetv1.VirtualCluster, *fleetv1.ControlPlane, *corev1.Secret) {
	t.Helper()
	ctx := context.Background()
	region, host := "r-"+name, name+"-a"
	bs := readyStore(t, name, region, spec, adminData, caData)
	addHost(t, host, region, "8")
	vc := builder.MakeVirtualCluster("default", name).CPU("1").Regions(region).External(bs.Name).Class(classFor(t, bs.Name)).Obj()
	if err := k8s.Create(ctx, vc); err != nil {
		t.Fatal(err)
	}
	vc = placedOn(t, vc, host)

	cp := &fleetv1.ControlPlane{}
	secret := &corev1.Secret{}
	eventually(t, func(g gomega.Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(host), Name: virtualcluster.ControlPlaneName(vc)}, cp)).To(gomega.Succeed())
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: cp.Namespace, Name: cp.Spec.Store.CredentialsSecret}, secret)).To(gomega.Succeed())
	})
	return vc, cp, secret
}

// readyStore registers a Ready BackingStore of spec in region, with its
// admin credentials (and CA, if given) in Secrets.
func readyStore(t *testing.T, name, region string, spec fleetv1.BackingStoreSpec, adminData, caData map[string][]byte) *fleetv1.BackingStore {
	t.Helper()
	ctx := context.Background()
	admin := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name + "-admin"}, Data: adminData}
	if err := k8s.Create(ctx, admin); err != nil {
		t.Fatal(err)
	}
	spec.Region = region
	spec.AdminCredentials = fleetv1.SecretReference{Namespace: "default", Name: admin.Name}
	if caData != nil {
		ca := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name + "-ca"}, Data: caData}
		if err := k8s.Create(ctx, ca); err != nil {
			t.Fatal(err)
		}
		spec.CASecret = &fleetv1.SecretReference{Namespace: "default", Name: ca.Name}
	}
	bs := &fleetv1.BackingStore{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := k8s.Create(ctx, bs); err != nil {
		t.Fatal(err)
	}
	meta.SetStatusCondition(&bs.Status.Conditions, metav1.Condition{Type: fleetv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Test", Message: "ok"})
	if err := k8s.Status().Update(ctx, bs); err != nil {
		t.Fatal(err)
	}
	return bs
}

// TestRenewsTheEtcdEpochCertificate: an epoch's client certificate in the
// last quarter of its life is issued again by the hub, for the same user,
// in the same Secret (where the agent reads it), and opens the same space.
func TestRenewsTheEtcdEpochCertificate(t *testing.T) {
	ctx := context.Background()
	s := etcdtest.Start(t)
	adminData, caData := stores.EtcdSecrets(s.Creds)
	vc, cp, secret := placeOnStore(t, "etcd-renew", fleetv1.BackingStoreSpec{Driver: fleetv1.DriverEtcd, Endpoint: s.Endpoint}, adminData, caData)

	// The epoch's certificate, as it would be 300 days after the hub
	// issued it: from the same CA, for the same user, 65 days left.
	user := string(secret.Data["username"])
	old := agedCertificate(t, s.Creds, user, 300*24*time.Hour, 65*24*time.Hour)
	secret.Data["tls.crt"], secret.Data["tls.key"] = old.CertPEM, old.KeyPEM
	if err := k8s.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if !stores.RenewalDue(secret.Data, time.Now()) {
		t.Fatal("the aged certificate is not due")
	}
	// The hub looks at the vcluster again (it resyncs every few hours).
	if err := k8s.Patch(ctx, vc, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"test/poke":"1"}}}`))); err != nil {
		t.Fatal(err)
	}
	eventually(t, func(g gomega.Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(gomega.Succeed())
		g.Expect(stores.RenewalDue(secret.Data, time.Now())).To(gomega.BeFalse(), "the certificate was not renewed")
	})
	if got := string(secret.Data["username"]); got != user {
		t.Fatalf("renewed for user %q, want %q", got, user)
	}
	epoch := epochClient(t, s.Endpoint, secret)
	if _, err := epoch.Put(ctx, cp.Spec.Store.Database+"/registry/probe", "x"); err != nil {
		t.Fatalf("the renewed certificate cannot write below its prefix: %v", err)
	}
}

// epochClient connects to the etcd store at endpoint with the epoch
// credentials in secret, until the test ends.
func epochClient(t *testing.T, endpoint string, secret *corev1.Secret) *clientv3.Client {
	t.Helper()
	tlsCfg, err := etcdstore.EpochCredentials{Cert: secret.Data["tls.crt"], Key: secret.Data["tls.key"], ServerCA: secret.Data["ca.crt"]}.TLS()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: tlsCfg, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// agedCertificate is a client certificate for user from the store's client
// CA, issued age ago and valid for left more.
func agedCertificate(t *testing.T, creds etcdstore.AdminCredentials, user string, age, left time.Duration) pki.KeyPair {
	t.Helper()
	ca, err := pki.ParseCA(creds.ClientCACert, creds.ClientCAKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: user},
		NotBefore: now.Add(-age), NotAfter: now.Add(left),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pki.KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}
