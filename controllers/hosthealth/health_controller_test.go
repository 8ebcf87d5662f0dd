package hosthealth_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/hosthealth"
	"github.com/vfleet/vfleet/hub"
	"github.com/vfleet/vfleet/internal/liveness"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/envtest"
)

var (
	k8s        client.Client
	fakeClock  = clocktesting.NewFakeClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	reconciler *hosthealth.Reconciler
)

// TestMain runs the controller in a manager against a real API server, with
// a clock the tests move by hand.
func TestMain(m *testing.M) {
	envtest.Main(m, envtest.Suite{
		CRDs:           true,
		ManagerOptions: ctrl.Options{Cache: hub.CacheOptions()},
		Controllers: func(mgr ctrl.Manager) error {
			reconciler = &hosthealth.Reconciler{Client: mgr.GetClient(), Clock: fakeClock, Recorder: mgr.GetEventRecorder("test"), Liveness: liveness.NewTracker()}
			return reconciler.SetupWithManager(mgr)
		},
		Setup: func(e envtest.Env) (func(), error) {
			k8s = e.Manager.GetClient()
			return nil, nil
		},
	})
}

func newHost(t *testing.T, name string) *fleetv1.HostCluster {
	t.Helper()
	ctx := context.Background()
	host := builder.MakeHostCluster(name, "region-a").Obj()
	if err := k8s.Create(ctx, host); err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetv1.HostNamespace(name)}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return host
}

// renew writes the agent's Lease as renewed at the fake clock's now.
func renew(t *testing.T, host string) { renewAt(t, host, fakeClock.Now()) }

// renewAt writes the agent's Lease as an agent whose clock says wrote.
func renewAt(t *testing.T, host string, wrote time.Time) {
	t.Helper()
	ctx := context.Background()
	now := metav1.NewMicroTime(wrote)
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{
		Namespace: fleetv1.HostNamespace(host), Name: fleetv1.AgentLeaseName,
		Labels: map[string]string{fleetv1.LabelHost: host},
	}}
	err := k8s.Get(ctx, client.ObjectKeyFromObject(lease), lease)
	lease.Spec = coordinationv1.LeaseSpec{HolderIdentity: ptr.To(host), LeaseDurationSeconds: ptr.To[int32](10), RenewTime: &now}
	if err == nil {
		err = k8s.Update(ctx, lease)
	} else {
		err = k8s.Create(ctx, lease)
	}
	if err != nil {
		t.Fatal(err)
	}
}

type hostState struct {
	ready, schedulable metav1.ConditionStatus
	readyReason        string
	tainted            bool
}

func stateOf(host *fleetv1.HostCluster) hostState {
	s := hostState{ready: "<none>", schedulable: "<none>"}
	if c := meta.FindStatusCondition(host.Status.Conditions, fleetv1.ConditionReady); c != nil {
		s.ready, s.readyReason = c.Status, c.Reason
	}
	if c := meta.FindStatusCondition(host.Status.Conditions, fleetv1.ConditionSchedulable); c != nil {
		s.schedulable = c.Status
	}
	for _, tt := range host.Spec.Taints {
		if tt.Key == fleetv1.TaintUnreachable && tt.Effect == corev1.TaintEffectNoSchedule {
			s.tainted = true
		}
	}
	return s
}

func expectState(t *testing.T, name string, want hostState) {
	t.Helper()
	gomega.NewWithT(t).Eventually(func() error {
		host := &fleetv1.HostCluster{}
		if err := k8s.Get(context.Background(), types.NamespacedName{Name: name}, host); err != nil {
			return err
		}
		if got := stateOf(host); got != want {
			return fmt.Errorf("state %+v, want %+v", got, want)
		}
		return nil
	}).WithTimeout(20*time.Second).WithPolling(50*time.Millisecond).Should(gomega.Succeed(), "host %s", name)
}

var (
	heartbeating = hostState{ready: metav1.ConditionTrue, readyReason: fleetv1.ReasonHeartbeating, schedulable: metav1.ConditionTrue}
	expired      = hostState{ready: metav1.ConditionUnknown, readyReason: fleetv1.ReasonLeaseExpired, schedulable: metav1.ConditionFalse, tainted: true}
)

// reconcileNow reconciles req at once, as the clock stands, again if the
// manager's own reconcile of the host wrote its status first (a conflict).
func reconcileNow(t *testing.T, req ctrl.Request) ctrl.Result {
	t.Helper()
	for range 50 {
		res, err := reconciler.Reconcile(context.Background(), req)
		if !apierrors.IsConflict(err) {
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
	}
	t.Fatalf("reconcile of %s: a conflict 50 times in a row", req.Name)
	return ctrl.Result{}
}

// TestLeaseExpiryAndRecovery walks one host through heartbeating, silence
// past its Lease and heartbeating again, moving the clock by hand.
func TestLeaseExpiryAndRecovery(t *testing.T) {
	newHost(t, "cycle")
	renew(t, "cycle")
	expectState(t, "cycle", heartbeating)

	// It requeues exactly when the Lease would expire.
	req := ctrl.Request{NamespacedName: types.NamespacedName{Name: "cycle"}}
	fakeClock.Step(3 * time.Second)
	res := reconcileNow(t, req)
	if res.RequeueAfter != 7*time.Second {
		t.Fatalf("RequeueAfter = %s, want 7s: the Lease was renewed 3s ago with a 10s duration", res.RequeueAfter)
	}

	// At the expiry instant the host turns Unknown and is tainted.
	fakeClock.Step(7 * time.Second)
	res = reconcileNow(t, req)
	if res.RequeueAfter != 0 {
		t.Fatalf("an expired host needs no timer, got RequeueAfter %s", res.RequeueAfter)
	}
	expectState(t, "cycle", expired)

	// It recovers as soon as the agent renews.
	renew(t, "cycle")
	expectState(t, "cycle", heartbeating)
}

func TestHostWithoutAgentIsUnknownAndTainted(t *testing.T) {
	newHost(t, "lonely")
	expectState(t, "lonely", hostState{ready: metav1.ConditionUnknown, readyReason: fleetv1.ReasonNeverConnected, schedulable: metav1.ConditionFalse, tainted: true})
}

func TestCordon(t *testing.T) {
	ctx := context.Background()
	host := newHost(t, "cordoned")
	renew(t, "cordoned")
	expectState(t, "cordoned", heartbeating)

	before := host.DeepCopy()
	host.Spec.Unschedulable = true
	if err := k8s.Patch(ctx, host, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	expectState(t, "cordoned", hostState{ready: metav1.ConditionTrue, readyReason: fleetv1.ReasonHeartbeating, schedulable: metav1.ConditionFalse})
}

// TestForeignLeaseIsIgnored: an agent can write Leases in its own
// namespace; one that claims another host's label must not keep that host
// alive.
func TestForeignLeaseIsIgnored(t *testing.T) {
	ctx := context.Background()
	newHost(t, "victim")
	newHost(t, "liar")
	now := metav1.NewMicroTime(fakeClock.Now())
	forged := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1.HostNamespace("liar"), Name: fleetv1.AgentLeaseName,
			Labels: map[string]string{fleetv1.LabelHost: "victim"}},
		Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To[int32](10), RenewTime: &now},
	}
	if err := k8s.Create(ctx, forged); err != nil {
		t.Fatal(err)
	}
	expectState(t, "victim", hostState{ready: metav1.ConditionUnknown, readyReason: fleetv1.ReasonNeverConnected, schedulable: metav1.ConditionFalse, tainted: true})
}

// TestFutureRenewTimeDoesNotHoldOffFailover: an agent that writes a renew
// time a year ahead, then goes quiet, is judged silent a Lease duration
// after the hub last saw it write, as any other.
func TestFutureRenewTimeDoesNotHoldOffFailover(t *testing.T) {
	newHost(t, "far-future")
	renewAt(t, "far-future", fakeClock.Now().Add(365*24*time.Hour))
	expectState(t, "far-future", heartbeating)

	fakeClock.Step(10 * time.Second)
	reconcileNow(t, ctrl.Request{NamespacedName: types.NamespacedName{Name: "far-future"}})
	expectState(t, "far-future", expired)
}

// TestSkewedClockIsNotSilence: an agent whose clock is an hour behind the
// hub's is heartbeating as long as it renews.
func TestSkewedClockIsNotSilence(t *testing.T) {
	newHost(t, "skewed")
	req := ctrl.Request{NamespacedName: types.NamespacedName{Name: "skewed"}}
	for range 3 {
		renewAt(t, "skewed", fakeClock.Now().Add(-time.Hour))
		expectState(t, "skewed", heartbeating)
		fakeClock.Step(5 * time.Second)
		reconcileNow(t, req)
		expectState(t, "skewed", heartbeating)
	}
}
