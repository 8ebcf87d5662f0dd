package virtualcluster_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/takeover"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/federation"
	"github.com/vfleet/vfleet/federation/ledger"
	"github.com/vfleet/vfleet/lab/pgserver"
	"github.com/vfleet/vfleet/stores"
	"github.com/vfleet/vfleet/stores/postgres"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/pgtest"
)

// restartHubWith runs the hub with epochs as its federation's ledger
// until the test ends, then without.
func restartHubWith(t *testing.T, epochs *federation.Epochs) {
	t.Helper()
	if err := stopHub(); err != nil {
		t.Fatal(err)
	}
	hubLedger = epochs
	if err := startHub(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stopHub(); err != nil {
			t.Error(err)
		}
		hubLedger = nil
		if err := startHub(); err != nil {
			t.Error(err)
		}
	})
}

// TestFederationCommitsEpochsFirst: in a federation, the hub places a
// vcluster only once the ledger committed its epoch, never one the ledger
// has in another region, and drops a deleted one from the ledger.
func TestFederationCommitsEpochsFirst(t *testing.T) {
	ctx := context.Background()
	l := ledger.NewLocal(ledger.New())
	for _, c := range []ledger.Command{
		{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "r-fed", Hub: "hub-fed", Reported: time.Now()},
			Hosts: []ledger.Host{{Name: "fed-a", Region: "r-fed"}}},
		{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "r-other", Hub: "hub-other", Reported: time.Now()},
			Hosts: []ledger.Host{{Name: "other-1", Region: "r-other"}}},
		// A vcluster of the same name lives in the other region.
		{Op: ledger.OpHome, Key: "default/fed-taken", Home: "r-other"},
		{Op: ledger.OpBumpEpoch, Key: "default/fed-taken", Host: "other-1"},
	} {
		if _, err := l.Propose(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	restartHubWith(t, &federation.Epochs{Region: "r-fed", Proposer: l})
	addHost(t, "fed-a", "r-fed", "8")

	vc := placedOn(t, newVC(t, "fed", "r-fed", "2"), "fed-a")
	if rec := l.Ledger().VClusters["default/fed"]; rec.Epoch != vc.Status.Epoch || rec.Host != "fed-a" || rec.Region != "r-fed" {
		t.Fatalf("the ledger has %+v, the vcluster epoch %d on %s", rec, vc.Status.Epoch, vc.Status.Host)
	}

	taken := newVC(t, "fed-taken", "r-fed", "1")
	eventually(t, func(g gomega.Gomega) {
		got := get(t, taken)
		c := meta.FindStatusCondition(got.Status.Conditions, fleetv1.ConditionScheduled)
		g.Expect(c).NotTo(gomega.BeNil())
		g.Expect(c.Status).To(gomega.Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(gomega.Equal(fleetv1.ReasonFederationRefused))
		g.Expect(c.Message).To(gomega.ContainSubstring("lives in another region, r-other"))
		g.Expect(got.Status.Host).To(gomega.BeEmpty())
	})
	if rec := l.Ledger().VClusters["default/fed-taken"]; rec.Host != "other-1" || rec.Epoch != 1 {
		t.Fatalf("the other region's vcluster is now %+v", rec)
	}

	// Region r-other takes "fed" over (as it would were r-fed lost): once
	// told, this hub retires its copy and stops its control plane.
	if _, err := l.Propose(ctx, ledger.Command{Op: ledger.OpClaim, Key: "default/fed", From: vc.Status.Epoch, Home: "r-other"}); err != nil {
		t.Fatal(err)
	}
	poke := get(t, vc)
	poke.Annotations = map[string]string{takeover.AnnotationTakenOverBy: "r-other"}
	if err := k8s.Update(ctx, poke); err != nil {
		t.Fatal(err)
	}
	eventually(t, func(g gomega.Gomega) {
		got := get(t, vc)
		g.Expect(got.Status.Phase).To(gomega.Equal(fleetv1.PhaseElsewhere))
		c := meta.FindStatusCondition(got.Status.Conditions, fleetv1.ConditionReady)
		g.Expect(c).NotTo(gomega.BeNil())
		g.Expect(c.Reason).To(gomega.Equal(fleetv1.ReasonTakenOver))
		g.Expect(c.Message).To(gomega.ContainSubstring("region r-other took this vcluster over"))
		err := k8s.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace("fed-a"), Name: virtualcluster.ControlPlaneName(vc)}, &fleetv1.ControlPlane{})
		g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "the retired copy's ControlPlane is still there")
	})

	// A takeover's VirtualCluster is made first and given its status
	// (its store, its last epoch) next: in between, the hub does nothing
	// with it, or it would place it as a new one.
	half := builder.MakeVirtualCluster("default", "fed-half").CPU("1").Regions("r-fed").Obj()
	half.Annotations = map[string]string{fleetv1.AnnotationTakenOverFrom: "r-other"}
	if err := k8s.Create(ctx, half); err != nil {
		t.Fatal(err)
	}
	gomega.NewWithT(t).Consistently(func(g gomega.Gomega) {
		got := get(t, half)
		g.Expect(got.Finalizers).To(gomega.BeEmpty())
		g.Expect(got.Status.Conditions).To(gomega.BeEmpty())
	}).WithTimeout(3 * time.Second).WithPolling(200 * time.Millisecond).Should(gomega.Succeed())
	if _, err := l.Propose(ctx, ledger.Command{Op: ledger.OpHome, Key: "default/fed-half", Home: "r-fed", UID: "uid-half"}); err != nil {
		t.Fatal(err)
	}
	half = get(t, half)
	half.Status.StoreUID = "uid-half"
	if err := k8s.Status().Update(ctx, half); err != nil {
		t.Fatal(err)
	}
	placedOn(t, half, "fed-a")

	for _, v := range []*fleetv1.VirtualCluster{vc, taken, half} {
		if err := k8s.Delete(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func(g gomega.Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(vc), &fleetv1.VirtualCluster{}))).To(gomega.BeTrue())
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(taken), &fleetv1.VirtualCluster{}))).To(gomega.BeTrue())
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(half), &fleetv1.VirtualCluster{}))).To(gomega.BeTrue())
	})
	ledgerNow := l.Ledger()
	if rec, ok := ledgerNow.VClusters["default/fed"]; !ok || rec.Region != "r-other" {
		t.Errorf("deleting the retired copy dropped what region r-other runs from the ledger: %+v", rec)
	}
	if _, ok := ledgerNow.VClusters["default/fed-taken"]; !ok {
		t.Error("deleting this region's VirtualCluster dropped the other region's vcluster of that name from the ledger")
	}
}

// TestTakeoverOfALostRegionKeepsTheData: a vcluster of a region that
// stopped reporting is claimed by this one, made again at its last epoch,
// fenced on its real PostgreSQL store, and placed here at the next epoch
// through the ledger, on the same database: what its lost epoch wrote is
// there, and the lost epoch's login is refused.
func TestTakeoverOfALostRegionKeepsTheData(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	bs := readyStore(t, "pg-tk", "r-tk", fleetv1.BackingStoreSpec{Driver: fleetv1.DriverPostgreSQL, Endpoint: pg.Endpoint()},
		map[string][]byte{"username": []byte(pgserver.AdminUser), "password": []byte(pg.AdminPassword())}, nil)
	spec := builder.MakeVirtualCluster("default", "tk").CPU("1").Regions("r-lost", "r-tk").External(bs.Name).Class(classFor(t, bs.Name)).Obj().Spec
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}

	// Region r-lost ran it at epoch 1 on its host, which wrote a row.
	const lostUID = "4a1c2b3d-0000-4000-8000-00000000beef"
	admin, err := stores.AdminFor(ctx, k8s, bs)
	if err != nil {
		t.Fatal(err)
	}
	space := stores.Space(fleetv1.DriverPostgreSQL, lostUID)
	epoch1, err := admin.Provision(ctx, space, 1)
	if err != nil {
		t.Fatal(err)
	}
	login := func(creds map[string][]byte) (*pgx.Conn, error) {
		return pgx.Connect(ctx, postgres.URL(pg.Endpoint(), space, string(creds["username"]), string(creds["password"]), ""))
	}
	conn, err := login(epoch1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE acked (n int); INSERT INTO acked VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)

	lostAt := time.Now().Add(-10 * time.Minute)
	l := ledger.NewLocal(ledger.New())
	for _, c := range []ledger.Command{
		{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "r-lost", Hub: "hub-lost", Reported: lostAt}, Hosts: []ledger.Host{{Name: "lost-1", Region: "r-lost"}}},
		{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "r-tk", Hub: "hub-tk", Reported: time.Now(), Stores: []string{bs.Name}}, Hosts: []ledger.Host{{Name: "tk-a", Region: "r-tk"}}},
		{Op: ledger.OpHome, Key: "default/tk", Home: "r-lost", Store: bs.Name, Spec: raw, UID: lostUID},
		{Op: ledger.OpBumpEpoch, Key: "default/tk", Host: "lost-1"},
	} {
		if _, err := l.Propose(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	restartHubWith(t, &federation.Epochs{Region: "r-tk", Proposer: l})
	addHost(t, "tk-a", "r-tk", "8")

	runner := &takeover.Runner{Client: k8s, Proposer: l, Clock: clock.RealClock{}, Region: "r-tk", After: time.Minute, Every: time.Second}
	if err := runner.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	vc := placedOn(t, &fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "tk"}}, "tk-a")
	if vc.Status.Epoch != 2 || vc.Status.FencedEpoch != 1 || vc.Status.StoreUID != lostUID {
		t.Fatalf("status %+v", vc.Status)
	}
	if rec := l.Ledger().VClusters["default/tk"]; rec.Epoch != 2 || rec.FencedEpoch != 1 || rec.Host != "tk-a" || rec.Region != "r-tk" || rec.ClaimedFrom != "" {
		t.Fatalf("the ledger has %+v", rec)
	}
	if conn, err := login(epoch1); err == nil {
		_ = conn.Close(ctx)
		t.Fatal("the lost epoch can still log in to its store")
	}
	cp := &fleetv1.ControlPlane{}
	secret := &corev1.Secret{}
	eventually(t, func(g gomega.Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace("tk-a"), Name: virtualcluster.ControlPlaneName(vc)}, cp)).To(gomega.Succeed())
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: cp.Namespace, Name: cp.Spec.Store.CredentialsSecret}, secret)).To(gomega.Succeed())
	})
	if cp.Spec.Store.Database != space {
		t.Fatalf("the new epoch's database is %q, want the lost epoch's %q", cp.Spec.Store.Database, space)
	}
	conn, err = login(secret.Data)
	if err != nil {
		t.Fatalf("epoch 2 cannot log in: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var n int
	if err := conn.QueryRow(ctx, "SELECT n FROM acked").Scan(&n); err != nil || n != 42 {
		t.Fatalf("the lost epoch's write: %d, %v", n, err)
	}
}

// TestSpillsToARegionWithRoom: a vcluster no host of this region has room
// for is handed, through the ledger, to another region that has, and says
// so; this region runs nothing of it.
func TestSpillsToARegionWithRoom(t *testing.T) {
	ctx := context.Background()
	l := ledger.NewLocal(ledger.New())
	for _, c := range []ledger.Command{
		{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "r-small", Hub: "hub-small", Reported: time.Now()}, Hosts: []ledger.Host{{Name: "small-a", Region: "r-small"}}},
		{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "r-roomy", Hub: "hub-roomy", Reported: time.Now()},
			Hosts: []ledger.Host{{Name: "roomy-1", Region: "r-roomy", Ready: true, Allocatable: map[string]int64{"cpu": 64000, "memory": 256 << 30}}}},
	} {
		if _, err := l.Propose(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	restartHubWith(t, &federation.Epochs{Region: "r-small", Proposer: l, LiveWithin: time.Minute})
	addHost(t, "small-a", "r-small", "2")

	vc := builder.MakeVirtualCluster("default", "spilled").CPU("6").Regions("r-small", "r-roomy").Obj()
	if err := k8s.Create(ctx, vc); err != nil {
		t.Fatal(err)
	}
	eventually(t, func(g gomega.Gomega) {
		got := get(t, vc)
		g.Expect(got.Status.Phase).To(gomega.Equal(fleetv1.PhaseElsewhere), "conditions %+v", got.Status.Conditions)
		c := meta.FindStatusCondition(got.Status.Conditions, fleetv1.ConditionReady)
		g.Expect(c).NotTo(gomega.BeNil())
		g.Expect(c.Reason).To(gomega.Equal(fleetv1.ReasonSpilled))
		g.Expect(c.Message).To(gomega.ContainSubstring("region r-roomy of the federation runs this vcluster"))
		g.Expect(got.Status.Host).To(gomega.BeEmpty())
	})
	if rec := l.Ledger().VClusters["default/spilled"]; rec.Region != "r-roomy" || rec.ClaimedFrom != "r-small" || rec.UID != string(get(t, vc).UID) {
		t.Fatalf("the ledger has %+v", rec)
	}
}
