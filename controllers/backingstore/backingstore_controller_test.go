package backingstore_test

import (
	"context"
	"fmt"
	"os"
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
	"github.com/vfleet/vfleet/hub"
	"github.com/vfleet/vfleet/internal/postgres"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/envtest"
	"github.com/vfleet/vfleet/test/pgtest"
)

var k8s client.Client

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	env, cfg, err := envtest.Start(envtest.CRDDir())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if k8s, err = client.New(cfg, client.Options{Scheme: hub.Scheme()}); err != nil {
		return 1
	}
	_, stop, err := envtest.StartManager(cfg, ctrl.Options{Scheme: hub.Scheme()}, func(mgr ctrl.Manager) error {
		return (&backingstore.Reconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()}).SetupWithManager(mgr)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = stop() }()
	return m.Run()
}

// TestReadyCondition logs in to a real PostgreSQL server with good and bad
// credentials, and to a port where nothing listens.
func TestReadyCondition(t *testing.T) {
	pg := pgtest.Start(t)
	// A port no lab holds, where nothing listens.
	ports, release, err := lab.ClaimPorts(1)
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
			fleetv1.SecretUsernameKey: postgres.AdminUser, fleetv1.SecretPasswordKey: pw,
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
		{"pg-good", pg.Endpoint(), "good", metav1.ConditionTrue, backingstore.ReasonReady, "logs in"},
		{"pg-bad-password", pg.Endpoint(), "bad", metav1.ConditionFalse, backingstore.ReasonAuthenticationFailed, "password authentication failed"},
		{"pg-down", fmt.Sprintf("127.0.0.1:%d", ports[0]), "good", metav1.ConditionFalse, backingstore.ReasonUnreachable, "connect"},
		{"pg-no-secret", pg.Endpoint(), "missing", metav1.ConditionFalse, backingstore.ReasonCredentialsMissing, "stores/missing not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bs := &fleetv1.BackingStore{ObjectMeta: metav1.ObjectMeta{Name: tc.name}, Spec: fleetv1.BackingStoreSpec{
				Driver: fleetv1.DriverPostgreSQL, Endpoint: tc.endpoint, Region: "region-a",
				AdminCredentials: fleetv1.SecretReference{Namespace: "stores", Name: tc.secret},
			}}
			if err := k8s.Create(ctx, bs); err != nil {
				t.Fatal(err)
			}
			g := gomega.NewWithT(t)
			g.Eventually(func(g gomega.Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(bs), bs)).To(gomega.Succeed())
				c := meta.FindStatusCondition(bs.Status.Conditions, fleetv1.ConditionReady)
				g.Expect(c).NotTo(gomega.BeNil())
				g.Expect(c.Status).To(gomega.Equal(tc.status))
				g.Expect(c.Reason).To(gomega.Equal(tc.reason))
				g.Expect(c.Message).To(gomega.ContainSubstring(tc.message))
			}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(gomega.Succeed())
		})
	}
}
