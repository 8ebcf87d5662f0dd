package takeover_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/takeover"
	"github.com/vfleet/vfleet/federation/ledger"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/envtest"
)

var k8s client.Client

func TestMain(m *testing.M) {
	envtest.Main(m, envtest.Suite{CRDs: true, Setup: func(e envtest.Env) (func(), error) {
		k8s = e.Client
		return nil, nil
	}})
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func report(t *testing.T, l *ledger.Local, region string, at time.Time, hosts ...string) {
	t.Helper()
	// Every region can use store pg; r-b alone pg-b too.
	stores := []string{"pg"}
	if region == "r-b" {
		stores = append(stores, "pg-b")
	}
	c := ledger.Command{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: region, Hub: "hub-" + region, Reported: at, Stores: stores}}
	for _, h := range hosts {
		c.Hosts = append(c.Hosts, ledger.Host{Name: h, Region: region})
	}
	if _, err := l.Propose(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// place homes a vcluster of store type in region and runs it on host at
// epoch 1.
func place(t *testing.T, l *ledger.Local, key, region, host string, store fleetv1.BackingStoreType, failover fleetv1.FailoverMode) {
	t.Helper()
	placeSpec(t, l, key, region, host, specOf(t, store, failover))
}

func placeSpec(t *testing.T, l *ledger.Local, key, region, host string, raw []byte) {
	t.Helper()
	for _, c := range []ledger.Command{{Op: ledger.OpHome, Key: key, Home: region, Spec: raw}, {Op: ledger.OpBumpEpoch, Key: key, Host: host}} {
		if _, err := l.Propose(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
}

// specOf is a vcluster's spec in the ledger.
func specOf(t *testing.T, store fleetv1.BackingStoreType, failover fleetv1.FailoverMode) []byte {
	t.Helper()
	w := builder.MakeVirtualCluster("", "").CPU("2")
	if store == fleetv1.BackingStoreExternal {
		w = w.External("pg")
	}
	spec := w.Obj().Spec
	spec.Failover.Mode = failover
	return marshal(t, spec)
}

// externalOn is the spec of an External vcluster kept on store.
func externalOn(t *testing.T, store string) []byte {
	t.Helper()
	return marshal(t, builder.MakeVirtualCluster("", "").CPU("2").External(store).Obj().Spec)
}

func marshal(t *testing.T, spec fleetv1.VirtualClusterSpec) []byte {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestTakesOverALostRegion: once a region has not reported for the set
// time, one surviving region (by spread) claims each of its External
// vclusters and makes it again at its last epoch on its lost host, for
// the failover to carry on from; the other survivors and a region still
// reporting take nothing, and a vcluster whose state is on its host stays.
func TestTakesOverALostRegion(t *testing.T) {
	ctx := context.Background()
	l := ledger.NewLocal(ledger.New())
	clk := clocktesting.NewFakePassiveClock(t0)
	report(t, l, "r-a", t0, "a-1")
	report(t, l, "r-b", t0, "b-1")
	report(t, l, "r-c", t0, "c-1")
	place(t, l, "shop/web", "r-c", "c-1", fleetv1.BackingStoreExternal, "")
	place(t, l, "shop/cache", "r-c", "c-1", fleetv1.BackingStoreEmbedded, "")
	place(t, l, "shop/by-hand", "r-c", "c-1", fleetv1.BackingStoreExternal, fleetv1.FailoverManual)
	placeSpec(t, l, "shop/b-only", "r-c", "c-1", externalOn(t, "pg-b"))
	placeSpec(t, l, "shop/stuck", "r-c", "c-1", externalOn(t, "pg-c"))
	runner := func(region string) *takeover.Runner {
		return &takeover.Runner{Client: k8s, Proposer: l, Clock: clk, Region: region, After: time.Minute, Every: time.Second}
	}
	a, b := runner("r-a"), runner("r-b")

	// Not silent long enough: region r-a only mirrors what r-c runs, as
	// r-c reports it.
	rc := ledger.Command{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "r-c", Hub: "hub-r-c", Reported: t0.Add(time.Second)},
		Hosts: []ledger.Host{{Name: "c-1", Region: "r-c"}}, VClusters: []ledger.VClusterState{{Key: "shop/web", Phase: "Ready", Ready: true}}}
	if _, err := l.Propose(ctx, rc); err != nil {
		t.Fatal(err)
	}
	clk.SetTime(t0.Add(59 * time.Second))
	report(t, l, "r-a", clk.Now(), "a-1")
	if err := a.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if rec := l.Ledger().VClusters["shop/web"]; rec.Region != "r-c" {
		t.Fatalf("taken over before its region was lost: %+v", rec)
	}
	mirror := &fleetv1.VirtualClusterMirror{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, mirror); err != nil {
		t.Fatalf("no mirror of region r-c's vcluster: %v", err)
	}
	if st := mirror.Status; st.Region != "r-c" || st.Host != "c-1" || st.Epoch != 1 || st.Phase != "Ready" || !st.Ready || mirror.Spec.BackingStore.Name != "pg" || st.ObservedTime == nil {
		t.Errorf("mirror %+v %+v", mirror.Spec.BackingStore, st)
	}

	// r-c is lost; r-a and r-b still report.
	clk.SetTime(t0.Add(2 * time.Minute))
	report(t, l, "r-a", clk.Now(), "a-1")
	report(t, l, "r-b", clk.Now(), "b-1")
	for _, r := range []*takeover.Runner{b, a, b} {
		if err := r.Pass(ctx); err != nil {
			t.Fatalf("%s: %v", r.Region, err)
		}
	}
	rec := l.Ledger().VClusters["shop/web"]
	if (rec.Region != "r-a" && rec.Region != "r-b") || rec.Epoch != 1 || rec.Host != "c-1" {
		t.Fatalf("the ledger has %+v, want it claimed by a survivor at epoch 1 on c-1", rec)
	}
	taker := runner(rec.Region)
	if cache := l.Ledger().VClusters["shop/cache"]; cache.Region != "r-c" {
		t.Errorf("an Embedded vcluster was claimed: %+v", cache)
	}
	if byHand := l.Ledger().VClusters["shop/by-hand"]; byHand.Region != "r-c" {
		t.Errorf("a vcluster that fails over by hand was claimed: %+v", byHand)
	}
	// Only r-b can use pg-b; no survivor pg-c, and its mirror says so.
	if rec := l.Ledger().VClusters["shop/b-only"]; rec.Region != "r-b" {
		t.Errorf("the vcluster on pg-b: %+v, want it claimed by r-b, the only survivor that can use its store", rec)
	}
	if rec := l.Ledger().VClusters["shop/stuck"]; rec.Region != "r-c" {
		t.Errorf("the vcluster on pg-c, which no survivor can use, was claimed: %+v", rec)
	}
	stuck := &fleetv1.VirtualClusterMirror{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "stuck"}, stuck); err != nil {
		t.Fatal(err)
	}
	if want := "region r-c has not reported since 2026-12-01T12:00:01Z; the vcluster stays there: no surviving region can use its BackingStore pg-c"; !strings.HasPrefix(stuck.Status.Message, want) {
		t.Errorf("the mirror of the vcluster that stays says %q, want %q", stuck.Status.Message, want)
	}
	if cache := (&fleetv1.VirtualClusterMirror{}); k8s.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "cache"}, cache) != nil || !strings.Contains(cache.Status.Message, "an Embedded store") {
		t.Errorf("the mirror of the Embedded vcluster left in r-c says %q", cache.Status.Message)
	}
	vc := &fleetv1.VirtualCluster{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, vc); err != nil {
		t.Fatal(err)
	}
	if vc.Status.Host != "c-1" || vc.Status.Epoch != 1 || vc.Spec.BackingStore.Name != "pg" || vc.Spec.Resources.CPU.String() != "2" ||
		vc.Annotations[takeover.AnnotationTakenOverFrom] != "r-c" {
		t.Errorf("made again as %+v %+v", vc.Annotations, vc.Status)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "cache"}, &fleetv1.VirtualCluster{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Embedded vcluster was made again: %v", err)
	}
	// Made here, it is mirrored no more; what stays in r-c still is.
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, &fleetv1.VirtualClusterMirror{}); !apierrors.IsNotFound(err) {
		t.Errorf("the taken-over vcluster is still mirrored: %v", err)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "cache"}, &fleetv1.VirtualClusterMirror{}); err != nil {
		t.Errorf("the vcluster left in r-c is not mirrored: %v", err)
	}
	// Forgotten (deleted in its region), its mirror goes.
	if _, err := l.Propose(ctx, ledger.Command{Op: ledger.OpForget, Key: "shop/by-hand"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "by-hand"}, &fleetv1.VirtualClusterMirror{}); !apierrors.IsNotFound(err) {
		t.Errorf("a forgotten vcluster is still mirrored: %v", err)
	}

	// Made again if it went missing (a make that failed half way).
	if err := k8s.Delete(ctx, vc); err != nil {
		t.Fatal(err)
	}
	if err := taker.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, vc); err != nil {
		t.Fatalf("not made again: %v", err)
	}
	var ns corev1.Namespace
	if err := k8s.Get(ctx, client.ObjectKey{Name: "shop"}, &ns); err != nil {
		t.Fatal(err)
	}

	// A vcluster region r-b had no room for, handed to r-a before it ran,
	// is made here as a new one, on its first object's store space.
	if _, err := l.Propose(ctx, ledger.Command{Op: ledger.OpHome, Key: "shop/big", Home: "r-b", Spec: specOf(t, fleetv1.BackingStoreEmbedded, ""), UID: "uid-big"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Propose(ctx, ledger.Command{Op: ledger.OpClaim, Key: "shop/big", Home: "r-a"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	big := &fleetv1.VirtualCluster{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "big"}, big); err != nil {
		t.Fatalf("the handed-over vcluster was not made: %v", err)
	}
	if big.Status.Host != "" || big.Status.Epoch != 0 || big.Status.StoreUID != "uid-big" || big.Annotations[takeover.AnnotationTakenOverFrom] != "r-b" {
		t.Errorf("made as %+v %+v", big.Annotations, big.Status)
	}

	// Region r-c's hub, back, marks its copy for its virtualcluster
	// controller to retire, and makes nothing.
	if err := runner("r-c").Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, vc); err != nil {
		t.Fatal(err)
	}
	if got := vc.Annotations[takeover.AnnotationTakenOverBy]; got != taker.Region {
		t.Errorf("taken-over-by %q, want %s", got, taker.Region)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "cache"}, &fleetv1.VirtualCluster{}); !apierrors.IsNotFound(err) {
		t.Errorf("region r-c made its own vcluster again: %v", err)
	}
}

// TestFinishesAHalfMadeTakeover: a pass that made a vcluster here but could
// not write its status (the hub's controller wrote the object in between)
// leaves it with no epoch and no store; the next pass writes them, or the
// vcluster would be placed afresh, a new epoch the ledger refuses.
func TestFinishesAHalfMadeTakeover(t *testing.T) {
	ctx := context.Background()
	l := ledger.NewLocal(ledger.New())
	clk := clocktesting.NewFakePassiveClock(t0)
	report(t, l, "r-a", t0, "a-1")
	report(t, l, "r-c", t0, "c-1")
	for _, c := range []ledger.Command{
		{Op: ledger.OpHome, Key: "ops/api", Home: "r-c", Spec: specOf(t, fleetv1.BackingStoreExternal, ""), UID: "uid-api"},
		{Op: ledger.OpBumpEpoch, Key: "ops/api", Host: "c-1"},
	} {
		if _, err := l.Propose(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ops"}}); err != nil {
		t.Fatal(err)
	}
	half := builder.MakeVirtualCluster("ops", "api").CPU("2").External("pg").Obj()
	half.Annotations = map[string]string{takeover.AnnotationTakenOverFrom: "r-c"}
	if err := k8s.Create(ctx, half); err != nil {
		t.Fatal(err)
	}
	clk.SetTime(t0.Add(2 * time.Minute))
	report(t, l, "r-a", clk.Now(), "a-1")
	a := &takeover.Runner{Client: k8s, Proposer: l, Clock: clk, Region: "r-a", After: time.Minute, Every: time.Second}
	for range 2 {
		if err := a.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	vc := &fleetv1.VirtualCluster{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(half), vc); err != nil {
		t.Fatal(err)
	}
	if vc.Status.StoreUID != "uid-api" || vc.Status.Host != "c-1" || vc.Status.Epoch != 1 {
		t.Errorf("the half-made takeover has status %+v, want store uid-api at epoch 1 on c-1", vc.Status)
	}
}

// TestGetsBackWhatItGaveAway: region r-a's vcluster was taken over by r-b,
// which later handed it back (no room left there after a failover): r-a's
// retired copy is rewritten from the ledger, at r-b's fenced epoch on r-b's
// host, for the failover to carry on from, and marked as r-a's again.
func TestGetsBackWhatItGaveAway(t *testing.T) {
	ctx := context.Background()
	l := ledger.NewLocal(ledger.New())
	clk := clocktesting.NewFakePassiveClock(t0)
	report(t, l, "r-a", t0, "a-1")
	report(t, l, "r-b", t0, "b-1")
	for _, c := range []ledger.Command{
		{Op: ledger.OpHome, Key: "back/db", Home: "r-a", Spec: specOf(t, fleetv1.BackingStoreExternal, ""), UID: "uid-db"},
		{Op: ledger.OpBumpEpoch, Key: "back/db", Host: "a-1"},
		{Op: ledger.OpClaim, Key: "back/db", From: 1, Home: "r-b"},
		{Op: ledger.OpFence, Key: "back/db", Epoch: 1},
		{Op: ledger.OpBumpEpoch, Key: "back/db", From: 1, Host: "b-1"},
		{Op: ledger.OpFence, Key: "back/db", Epoch: 2},
		{Op: ledger.OpClaim, Key: "back/db", From: 2, Home: "r-a"},
	} {
		if _, err := l.Propose(ctx, c); err != nil {
			t.Fatalf("%s: %v", c.Op, err)
		}
	}
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "back"}}); err != nil {
		t.Fatal(err)
	}
	retired := builder.MakeVirtualCluster("back", "db").CPU("2").External("pg").Obj()
	retired.Annotations = map[string]string{takeover.AnnotationTakenOverBy: "r-b"}
	if err := k8s.Create(ctx, retired); err != nil {
		t.Fatal(err)
	}
	retired.Status = fleetv1.VirtualClusterStatus{Host: "a-1", Epoch: 1, StoreUID: "uid-db", Phase: fleetv1.PhaseElsewhere}
	if err := k8s.Status().Update(ctx, retired); err != nil {
		t.Fatal(err)
	}
	a := &takeover.Runner{Client: k8s, Proposer: l, Clock: clk, Region: "r-a", After: time.Minute, Every: time.Second}
	if err := a.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	vc := &fleetv1.VirtualCluster{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(retired), vc); err != nil {
		t.Fatal(err)
	}
	if st := vc.Status; st.Host != "b-1" || st.Epoch != 2 || st.FencedEpoch != 2 || st.StoreUID != "uid-db" {
		t.Errorf("got back as %+v, want epoch 2 on b-1, fenced, on store uid-db", st)
	}
	if _, by := vc.Annotations[takeover.AnnotationTakenOverBy]; by || vc.Annotations[takeover.AnnotationTakenOverFrom] != "r-b" {
		t.Errorf("annotations %v: want taken over from r-b, by no one", vc.Annotations)
	}
}
