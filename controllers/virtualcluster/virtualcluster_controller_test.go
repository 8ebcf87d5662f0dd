package virtualcluster_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/internal/liveness"
	"github.com/vfleet/vfleet/placement"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/envtest"
)

var (
	k8s        client.Client
	restCfg    *rest.Config
	reconciler *virtualcluster.Reconciler
	stopHub    func() error
)

func TestMain(m *testing.M) {
	envtest.Main(m, envtest.Suite{CRDs: true, Setup: func(e envtest.Env) (func(), error) {
		restCfg, k8s = e.Config, e.Client
		if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: identityNamespace}}); err != nil {
			return nil, err
		}
		// Not the suite's manager: a test stops and restarts this one.
		if err := startHub(); err != nil {
			return nil, err
		}
		return func() {
			if err := stopHub(); err != nil {
				fmt.Fprintln(os.Stderr, "manager:", err)
			}
		}, nil
	}})
}

// testGateway is the region's gateway the hub names in kubeconfigs.
var testGateway = virtualcluster.Gateway{Address: "127.0.0.1:7443", Domain: "vclusters.test"}

// identityNamespace keeps the vclusters' identities: the hub's namespace.
const identityNamespace = "vfleet-system"

// hubLedger is the federation's ledger the hub starts with, if any.
var hubLedger virtualcluster.EpochLedger

// startHub runs the controller with a new, empty placement engine, as a
// restarted hub would.
func startHub() error { return startHubWith(nil) }

// startHubWith runs the controller as startHub does, with its client
// wrapped by wrap, when given, to inject a fault into what the API server
// answers.
func startHubWith(wrap func(client.Client) client.Client) error {
	// Restarting in one process registers the controller twice by name.
	opts := ctrl.Options{Scheme: apis.Scheme(), Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)}}
	_, stop, err := envtest.StartManager(restCfg, opts, func(mgr ctrl.Manager) error {
		c := mgr.GetClient()
		if wrap != nil {
			c = wrap(c)
		}
		reconciler = &virtualcluster.Reconciler{
			Client: c, Reader: mgr.GetAPIReader(), Engine: placement.NewEngine(placement.DefaultProfile(), fleetv1.StrategyBinPack),
			Overhead: placement.DefaultOverhead, Recorder: mgr.GetEventRecorder("test"), Clock: clock.RealClock{},
			Liveness: liveness.NewTracker(), Ledger: hubLedger, IdentityNamespace: identityNamespace, Gateway: testGateway,
			// Several at once, as the hub runs it: the race detector and
			// the placement tests see them side by side.
			Workers: 4,
		}
		return reconciler.SetupWithManager(context.Background(), mgr)
	})
	if err != nil {
		return err
	}
	stopHub = stop
	return nil
}

// classFor makes a class that allows store and returns its name.
func classFor(t *testing.T, store string) string {
	t.Helper()
	class := builder.MakeClass("with-"+store, store)
	if err := k8s.Create(context.Background(), class); err != nil {
		t.Fatal(err)
	}
	return class.Name
}

// addHost registers a healthy host with cpu CPUs in region, with its
// namespace, as join and the agent would.
func addHost(t *testing.T, name, region, cpu string) {
	t.Helper()
	ctx := context.Background()
	h := builder.MakeHostCluster(name, region).Obj()
	if err := k8s.Create(ctx, h); err != nil {
		t.Fatal(err)
	}
	h.Status = builder.HostStatus(cpu, "64Gi", 500, "v1.36.3")
	if err := k8s.Status().Update(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetv1.HostNamespace(name)}}); err != nil {
		t.Fatal(err)
	}
}

func newVC(t *testing.T, name, region, cpu string) *fleetv1.VirtualCluster {
	t.Helper()
	vc := builder.MakeVirtualCluster("default", name).CPU(cpu).Regions(region).Obj()
	if err := k8s.Create(context.Background(), vc); err != nil {
		t.Fatal(err)
	}
	return vc
}

func get(t *testing.T, vc *fleetv1.VirtualCluster) *fleetv1.VirtualCluster {
	t.Helper()
	out := &fleetv1.VirtualCluster{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(vc), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually polls cond for up to a minute: `make test` runs this package
// under the race detector beside others, where the first placement once
// took more than 20 s.
func eventually(t *testing.T, cond func(g gomega.Gomega)) {
	t.Helper()
	gomega.NewWithT(t).Eventually(cond).WithTimeout(time.Minute).WithPolling(50 * time.Millisecond).Should(gomega.Succeed())
}

func placedOn(t *testing.T, vc *fleetv1.VirtualCluster, hosts ...string) *fleetv1.VirtualCluster {
	t.Helper()
	var got *fleetv1.VirtualCluster
	eventually(t, func(g gomega.Gomega) {
		got = &fleetv1.VirtualCluster{}
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(vc), got)).To(gomega.Succeed())
		g.Expect(hosts).To(gomega.ContainElement(got.Status.Host))
	})
	return got
}

func TestPlacesOnceAndCreatesTheControlPlane(t *testing.T) {
	ctx := context.Background()
	addHost(t, "once-a", "r-once", "8")
	addHost(t, "once-b", "r-once", "8")
	vc := placedOn(t, newVC(t, "once", "r-once", "2"), "once-a", "once-b")

	if vc.Status.Epoch != 1 || vc.Status.Phase != fleetv1.PhaseScheduled || len(vc.Status.PlacementHistory) != 1 {
		t.Fatalf("status %+v", vc.Status)
	}
	cond := meta.FindStatusCondition(vc.Status.Conditions, fleetv1.ConditionScheduled)
	if cond == nil || cond.Status != metav1.ConditionTrue || !strings.Contains(cond.Message, vc.Status.Host) {
		t.Fatalf("Scheduled condition %+v", cond)
	}
	cp := &fleetv1.ControlPlane{}
	key := client.ObjectKey{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: virtualcluster.ControlPlaneName(vc)}
	eventually(t, func(g gomega.Gomega) { g.Expect(k8s.Get(ctx, key, cp)).To(gomega.Succeed()) })
	if cp.Spec.Epoch != 1 || cp.Spec.VirtualCluster.UID != string(vc.UID) || cp.Spec.Resources.CPU.String() != "2" {
		t.Fatalf("ControlPlane spec %+v", cp.Spec)
	}

	// Reconciling again, as after a requeue or a hub restart, changes nothing.
	for range 3 {
		if _, err := reconciler.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(vc)}); err != nil {
			t.Fatal(err)
		}
	}
	again := get(t, vc)
	if again.Status.Epoch != 1 || again.Status.Host != vc.Status.Host {
		t.Fatalf("placed twice: epoch %d on %s, was 1 on %s", again.Status.Epoch, again.Status.Host, vc.Status.Host)
	}
	var cps fleetv1.ControlPlaneList
	for _, h := range []string{"once-a", "once-b"} {
		var list fleetv1.ControlPlaneList
		if err := k8s.List(ctx, &list, client.InNamespace(fleetv1.HostNamespace(h))); err != nil {
			t.Fatal(err)
		}
		cps.Items = append(cps.Items, list.Items...)
	}
	if len(cps.Items) != 1 {
		t.Fatalf("%d ControlPlanes, want 1", len(cps.Items))
	}
}

func TestUnschedulableExplainsAndWaitsForTheFleet(t *testing.T) {
	ctx := context.Background()
	unschedulable := map[string]string{"kind": "Initial", "result": "Unschedulable"}
	placed := map[string]string{"kind": "Initial", "result": "Placed"}
	decided := map[string]string{"kind": "Initial"}
	noRoom := map[string]string{"kind": "Initial", "filter": "CapacityFit"}
	before := []float64{sample(t, "vfleet_hub_placements_total", unschedulable), sample(t, "vfleet_hub_placements_total", placed),
		sample(t, "vfleet_hub_placement_duration_seconds", decided), sample(t, "vfleet_hub_placement_rejections_total", noRoom)}
	addHost(t, "small-1", "r-wait", "4")
	addHost(t, "small-2", "r-wait", "4")
	vc := newVC(t, "too-big", "r-wait", "6")
	eventually(t, func(g gomega.Gomega) {
		got := get(t, vc)
		c := meta.FindStatusCondition(got.Status.Conditions, fleetv1.ConditionScheduled)
		g.Expect(c).NotTo(gomega.BeNil())
		g.Expect(c.Status).To(gomega.Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(gomega.Equal(fleetv1.ReasonUnschedulable))
		g.Expect(c.Message).To(gomega.MatchRegexp(`^0/\d+ hosts fit: (\d+ region not allowed, 2 insufficient cpu|2 insufficient cpu(, \d+ region not allowed)?)$`))
		g.Expect(got.Status.Phase).To(gomega.Equal(fleetv1.PhasePending))
	})
	eventually(t, func(g gomega.Gomega) {
		var evs eventsv1.EventList
		g.Expect(k8s.List(ctx, &evs, client.InNamespace("default"))).To(gomega.Succeed())
		found := false
		for _, e := range evs.Items {
			if e.Regarding.Name == "too-big" && e.Reason == "FailedScheduling" && strings.Contains(e.Note, "insufficient cpu") {
				found = true
			}
		}
		g.Expect(found).To(gomega.BeTrue(), "no FailedScheduling event")
	})

	// A bigger host joins: the vcluster is placed without any timer.
	addHost(t, "big", "r-wait", "16")
	placedOn(t, vc, "big")

	// Counted as decided (other tests place too, hence at least).
	if got := sample(t, "vfleet_hub_placements_total", unschedulable); got < before[0]+1 {
		t.Errorf("unschedulable placements %v, want at least %v", got, before[0]+1)
	}
	if got := sample(t, "vfleet_hub_placements_total", placed); got < before[1]+1 {
		t.Errorf("placements %v, want at least %v", got, before[1]+1)
	}
	if got := sample(t, "vfleet_hub_placement_duration_seconds", decided); got < before[2]+2 {
		t.Errorf("placement decisions timed %v, want at least %v", got, before[2]+2)
	}
	// Both small hosts, for want of room, at least once.
	if got := sample(t, "vfleet_hub_placement_rejections_total", noRoom); got < before[3]+2 {
		t.Errorf("hosts ruled out for room %v, want at least %v", got, before[3]+2)
	}
}

func TestLedgerSurvivesAHubRestartAndDeletionFreesCapacity(t *testing.T) {
	ctx := context.Background()
	addHost(t, "only", "r-ledger", "4")
	first := placedOn(t, newVC(t, "first", "r-ledger", "3"), "only")

	if err := stopHub(); err != nil {
		t.Fatal(err)
	}
	if err := startHub(); err != nil {
		t.Fatal(err)
	}
	// The new engine knows of "first" only from the API; "second" must not
	// be squeezed in beside it.
	second := newVC(t, "second", "r-ledger", "3")
	eventually(t, func(g gomega.Gomega) {
		c := meta.FindStatusCondition(get(t, second).Status.Conditions, fleetv1.ConditionScheduled)
		g.Expect(c).NotTo(gomega.BeNil())
		g.Expect(c.Message).To(gomega.ContainSubstring("1 insufficient cpu"))
	})

	// Deleting "first" removes its ControlPlane and lets "second" in.
	if err := k8s.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	eventually(t, func(g gomega.Gomega) {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(first), &fleetv1.VirtualCluster{})
		g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue())
		err = k8s.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace("only"), Name: virtualcluster.ControlPlaneName(first)}, &fleetv1.ControlPlane{})
		g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue())
	})
	placedOn(t, second, "only")
}

// TestWaitsForItsBackingStore: an External vcluster stays Pending, with the
// store's own reason, while its BackingStore is not Ready, and is placed
// once it is.
func TestWaitsForItsBackingStore(t *testing.T) {
	ctx := context.Background()
	addHost(t, "store-a", "r-store", "8")
	bs := &fleetv1.BackingStore{ObjectMeta: metav1.ObjectMeta{Name: "pg-store-test"}, Spec: fleetv1.BackingStoreSpec{
		Driver: fleetv1.DriverPostgreSQL, Endpoint: "127.0.0.1:5432", Region: "r-store",
		AdminCredentials: fleetv1.SecretReference{Namespace: "default", Name: "pg-admin"},
	}}
	if err := k8s.Create(ctx, bs); err != nil {
		t.Fatal(err)
	}
	setReady := func(status metav1.ConditionStatus, message string) {
		meta.SetStatusCondition(&bs.Status.Conditions, metav1.Condition{Type: fleetv1.ConditionReady, Status: status, Reason: "Test", Message: message})
		if err := k8s.Status().Update(ctx, bs); err != nil {
			t.Fatal(err)
		}
	}
	setReady(metav1.ConditionFalse, "password authentication failed for user vfleet")
	vc := builder.MakeVirtualCluster("default", "needs-store").CPU("1").Regions("r-store").External(bs.Name).Class(classFor(t, bs.Name)).Obj()
	if err := k8s.Create(ctx, vc); err != nil {
		t.Fatal(err)
	}
	eventually(t, func(g gomega.Gomega) {
		got := get(t, vc)
		c := meta.FindStatusCondition(got.Status.Conditions, fleetv1.ConditionScheduled)
		g.Expect(c).NotTo(gomega.BeNil())
		g.Expect(c.Message).To(gomega.ContainSubstring("backing store pg-store-test not ready: password authentication failed"))
		g.Expect(got.Status.Phase).To(gomega.Equal(fleetv1.PhasePending))
	})
	setReady(metav1.ConditionTrue, "ok")
	placedOn(t, vc, "store-a")
}
