package backingstore_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/backingstore"
	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/lab/pgserver"
	"github.com/vfleet/vfleet/stores"
	"github.com/vfleet/vfleet/test/envtest"
	"github.com/vfleet/vfleet/test/etcdtest"
	"github.com/vfleet/vfleet/test/pgtest"
)

var k8s client.Client

func TestMain(m *testing.M) {
	envtest.Main(m, envtest.Suite{
		CRDs: true,
		Controllers: func(mgr ctrl.Manager) error {
			return (&backingstore.Reconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()}).SetupWithManager(mgr)
		},
		Setup: func(e envtest.Env) (func(), error) {
			k8s = e.Client
			return nil, nil
		},
	})
}

// TestReadyCondition logs in to a real PostgreSQL server with good and bad
// credentials, and to a port where nothing listens.
func TestReadyCondition(t *testing.T) {
	pg := pgtest.Start(t)
	// A port no lab holds, where nothing listens.
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx := context.Background()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "stores"}}); err != nil {
		t.Fatal(err)
	}
	for name, pw := range map[string]string{"good": pg.AdminPassword(), "bad": "wrong"} {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "stores", Name: name}, StringData: map[string]string{
			fleetv1.SecretUsernameKey: pgserver.AdminUser, fleetv1.SecretPasswordKey: pw,
		}}
		if err := k8s.Create(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, endpoint, secret string
		status                 metav1.ConditionStatus
		reason, message        string
	}{
		{"pg-good", pg.Endpoint(), "good", metav1.ConditionTrue, fleetv1.ReasonReachable, "administers"},
		{"pg-bad-password", pg.Endpoint(), "bad", metav1.ConditionFalse, fleetv1.ReasonAuthenticationFailed, "password authentication failed"},
		{"pg-down", fmt.Sprintf("127.0.0.1:%d", ports[0]), "good", metav1.ConditionFalse, fleetv1.ReasonUnreachable, "connect"},
		{"pg-no-secret", pg.Endpoint(), "missing", metav1.ConditionFalse, fleetv1.ReasonCredentialsMissing, "stores/missing not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bs := &fleetv1.BackingStore{ObjectMeta: metav1.ObjectMeta{Name: tc.name}, Spec: fleetv1.BackingStoreSpec{
				Driver: fleetv1.DriverPostgreSQL, Endpoint: tc.endpoint, Region: "region-a",
				AdminCredentials: fleetv1.SecretReference{Namespace: "stores", Name: tc.secret},
			}}
			expectReady(t, bs, tc.status, tc.reason, tc.message)
		})
	}
}

// TestEtcdReadyCondition administers a real etcd server with root's
// certificate, with an epoch user's (not root), without the CA key, where
// nothing listens, and once auth is off.
func TestEtcdReadyCondition(t *testing.T) {
	s := etcdtest.Start(t)
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "etcd-stores"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	admin := s.Admin()
	if err := admin.EnsureSpace(ctx, "vfleet-x"); err != nil {
		t.Fatal(err)
	}
	epoch, err := admin.EnsureEpochUser(ctx, "vfleet-x", 1)
	if err != nil {
		t.Fatal(err)
	}
	good, ca := stores.EtcdSecrets(s.Creds)
	notRoot := maps.Clone(good)
	notRoot["tls.crt"], notRoot["tls.key"] = epoch.Cert, epoch.Key
	noCAKey := maps.Clone(good)
	delete(noCAKey, "client-ca.key")
	for name, data := range map[string]map[string][]byte{"root": good, "not-root": notRoot, "no-ca-key": noCAKey, "ca": ca} {
		if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name}, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, endpoint, secret string
		before                 func()
		reason, message        string
	}{
		{name: "etcd-good", endpoint: s.Endpoint, secret: "root", reason: fleetv1.ReasonReachable, message: "administers"},
		{name: "etcd-not-root", endpoint: s.Endpoint, secret: "not-root", reason: fleetv1.ReasonAuthenticationFailed, message: `user "vfleet-x-e1"`},
		{name: "etcd-no-ca-key", endpoint: s.Endpoint, secret: "no-ca-key", reason: fleetv1.ReasonCredentialsMissing, message: `has no "client-ca.key"`},
		{name: "etcd-down", endpoint: fmt.Sprintf("https://127.0.0.1:%d", ports[0]), secret: "root", reason: fleetv1.ReasonUnreachable, message: "did not answer"},
		{name: "etcd-auth-off", endpoint: s.Endpoint, secret: "root", reason: fleetv1.ReasonAuthDisabled, message: "etcdctl auth enable", before: func() { s.DisableAuth(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			bs := &fleetv1.BackingStore{ObjectMeta: metav1.ObjectMeta{Name: tc.name}, Spec: fleetv1.BackingStoreSpec{
				Driver: fleetv1.DriverEtcd, Endpoint: tc.endpoint, Region: "region-a",
				AdminCredentials: fleetv1.SecretReference{Namespace: ns.Name, Name: tc.secret},
				CASecret:         &fleetv1.SecretReference{Namespace: ns.Name, Name: "ca"},
			}}
			status := metav1.ConditionFalse
			if tc.reason == fleetv1.ReasonReachable {
				status = metav1.ConditionTrue
			}
			expectReady(t, bs, status, tc.reason, tc.message)
		})
	}
}

// expectReady creates bs and waits for its Ready condition.
func expectReady(t *testing.T, bs *fleetv1.BackingStore, status metav1.ConditionStatus, reason, message string) {
	t.Helper()
	ctx := context.Background()
	if err := k8s.Create(ctx, bs); err != nil {
		t.Fatal(err)
	}
	g := gomega.NewWithT(t)
	g.Eventually(func(g gomega.Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(bs), bs)).To(gomega.Succeed())
		c := meta.FindStatusCondition(bs.Status.Conditions, fleetv1.ConditionReady)
		g.Expect(c).NotTo(gomega.BeNil())
		g.Expect(c.Status).To(gomega.Equal(status))
		g.Expect(c.Reason).To(gomega.Equal(reason))
		g.Expect(c.Message).To(gomega.ContainSubstring(message))
	}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(gomega.Succeed())
}
