package virtualcluster_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/lab/pgserver"
	"github.com/vfleet/vfleet/stores/postgres"
	"github.com/vfleet/vfleet/test/pgtest"
)

// lostFenceRecord answers the status write that records a vcluster's fence
// with a conflict, once, after letting the host's agent renew its Lease:
// the store has revoked the epoch, the record of it is lost, and the
// reason for the fence has passed.
type lostFenceRecord struct {
	client.Client
	vcluster string
	host     string
	lost     atomic.Bool
}

func (l *lostFenceRecord) Status() client.SubResourceWriter {
	return lostFenceStatus{SubResourceWriter: l.Client.Status(), l: l}
}

type lostFenceStatus struct {
	client.SubResourceWriter
	l *lostFenceRecord
}

func (s lostFenceStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	vc, ok := obj.(*fleetv1.VirtualCluster)
	if !ok || vc.Name != s.l.vcluster || vc.Status.FencedEpoch == 0 || !s.l.lost.CompareAndSwap(false, true) {
		return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
	}
	lease := &coordinationv1.Lease{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(s.l.host), Name: fleetv1.AgentLeaseName}, lease); err != nil {
		return err
	}
	lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = ptr.To(int32(60)), &metav1.MicroTime{Time: time.Now()}
	if err := k8s.Update(ctx, lease); err != nil {
		return err
	}
	return apierrors.NewConflict(schema.GroupResource{Group: fleetv1.GroupVersion.Group, Resource: "virtualclusters"}, vc.Name, nil)
}

// fallSilent has host's agent renew its Lease once, for a second, and
// then never again.
func fallSilent(t *testing.T, host string) *coordinationv1.Lease {
	t.Helper()
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1.HostNamespace(host), Name: fleetv1.AgentLeaseName},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("agent"), LeaseDurationSeconds: ptr.To(int32(1)), RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
	if err := k8s.Create(context.Background(), lease); err != nil {
		t.Fatal(err)
	}
	return lease
}

// poke does what the host health controller would when host falls
// silent: say the host changed, which brings its vclusters back to the
// hub.
func poke(g gomega.Gomega, host string) {
	h := &fleetv1.HostCluster{ObjectMeta: metav1.ObjectMeta{Name: host}}
	g.Expect(k8s.Patch(context.Background(), h, client.RawPatch("application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"test/poke":"`+time.Now().Format(time.RFC3339Nano)+`"}}}`)))).To(gomega.Succeed())
}

// TestFenceIsCarriedThrough: once a fence has begun, it is carried through
// and the vcluster placed again, even when the record of its end is lost
// and its host comes back in between. Before, the vcluster stayed on its
// host with revoked credentials, and nothing tried again.
func TestFenceIsCarriedThrough(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	vc, _, secret := placeOnStore(t, "pg-fence", fleetv1.BackingStoreSpec{Driver: fleetv1.DriverPostgreSQL, Endpoint: pg.Endpoint()},
		map[string][]byte{"username": []byte(pgserver.AdminUser), "password": []byte(pg.AdminPassword())}, nil)
	addHost(t, "pg-fence-b", "r-pg-fence", "8")
	// The host taking over fences itself sooner than the vcluster fails
	// over, as placement asks of an automatic failover's target.
	if err := k8s.Status().Patch(ctx, &fleetv1.HostCluster{ObjectMeta: metav1.ObjectMeta{Name: "pg-fence-b"}},
		client.RawPatch("application/merge-patch+json", []byte(`{"status":{"selfFenceAfterSeconds":3}}`))); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Patch(ctx, vc, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"failover":{"afterSeconds":5}}}`))); err != nil {
		t.Fatal(err)
	}

	resumed := map[string]string{"reason": "Resumed", "result": "Fenced"}
	resumedBefore := sample(t, "vfleet_hub_fences_total", resumed)
	fault := &lostFenceRecord{vcluster: vc.Name, host: "pg-fence-a"}
	if err := stopHub(); err != nil {
		t.Fatal(err)
	}
	if err := startHubWith(func(c client.Client) client.Client { fault.Client = c; return fault }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stopHub(); err != nil {
			t.Error(err)
		}
		if err := startHub(); err != nil {
			t.Error(err)
		}
	})

	fallSilent(t, "pg-fence-a")
	gomega.NewWithT(t).Eventually(func(g gomega.Gomega) {
		poke(g, "pg-fence-a")
		got := get(t, vc)
		g.Expect(fault.lost.Load()).To(gomega.BeTrue(), "the fence's record was not lost yet")
		g.Expect(got.Status.FencedEpoch).To(gomega.Equal(int64(1)), "the fence of epoch 1 was not carried through")
		g.Expect(got.Status.Host).To(gomega.Equal("pg-fence-b"), "conditions: %+v", got.Status.Conditions)
		g.Expect(got.Status.Epoch).To(gomega.Equal(int64(2)))
	}).WithTimeout(40 * time.Second).WithPolling(500 * time.Millisecond).Should(gomega.Succeed())

	conn, err := pgx.Connect(ctx, postgres.URL(pg.Endpoint(), "postgres", string(secret.Data["username"]), string(secret.Data["password"]), ""))
	if err == nil {
		_ = conn.Close(ctx)
		t.Fatal("epoch 1's credentials still log in after its fence")
	}
	if got := sample(t, "vfleet_hub_fences_total", resumed); got < resumedBefore+1 {
		t.Errorf("fences carried through %v, want at least %v", got, resumedBefore+1)
	}
}

// TestFailoverComesBackOnItsHost: a vcluster whose host fell silent is
// fenced, but no other host fits; once the host is back, the vcluster comes
// back there at the next epoch, the fenced one being dead. Before, it
// stayed fenced and down for good, its host healthy.
func TestFailoverComesBackOnItsHost(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	vc, _, _ := placeOnStore(t, "pg-back", fleetv1.BackingStoreSpec{Driver: fleetv1.DriverPostgreSQL, Endpoint: pg.Endpoint()},
		map[string][]byte{"username": []byte(pgserver.AdminUser), "password": []byte(pg.AdminPassword())}, nil)
	if err := k8s.Patch(ctx, vc, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"failover":{"afterSeconds":5}}}`))); err != nil {
		t.Fatal(err)
	}
	// Its agent fences itself sooner than the vcluster fails over, as
	// placement asks of an automatic failover's target.
	if err := k8s.Status().Patch(ctx, &fleetv1.HostCluster{ObjectMeta: metav1.ObjectMeta{Name: "pg-back-a"}},
		client.RawPatch("application/merge-patch+json", []byte(`{"status":{"selfFenceAfterSeconds":3}}`))); err != nil {
		t.Fatal(err)
	}
	lease := fallSilent(t, "pg-back-a")
	gomega.NewWithT(t).Eventually(func(g gomega.Gomega) {
		poke(g, "pg-back-a")
		got := get(t, vc)
		g.Expect(got.Status.FencedEpoch).To(gomega.Equal(int64(1)))
		c := meta.FindStatusCondition(got.Status.Conditions, fleetv1.ConditionFailover)
		g.Expect(c).NotTo(gomega.BeNil())
		g.Expect(c.Message).To(gomega.ContainSubstring("no other host fits"))
	}).WithTimeout(40 * time.Second).WithPolling(500 * time.Millisecond).Should(gomega.Succeed())

	// The agent is back: it renews its Lease again.
	gomega.NewWithT(t).Eventually(func(g gomega.Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(lease), lease)).To(gomega.Succeed())
		lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = ptr.To(int32(60)), &metav1.MicroTime{Time: time.Now()}
		g.Expect(k8s.Update(ctx, lease)).To(gomega.Succeed())
		poke(g, "pg-back-a")
		got := get(t, vc)
		g.Expect(got.Status.Host).To(gomega.Equal("pg-back-a"))
		g.Expect(got.Status.Epoch).To(gomega.Equal(int64(2)), "conditions: %+v", got.Status.Conditions)
	}).WithTimeout(40 * time.Second).WithPolling(time.Second).Should(gomega.Succeed())
}
