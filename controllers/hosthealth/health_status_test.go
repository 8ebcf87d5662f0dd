package hosthealth

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/liveness"
	"github.com/vfleet/vfleet/test/builder"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func seen(renewed time.Time, d time.Duration) liveness.Heartbeat {
	return liveness.Heartbeat{Joined: true, Renewed: renewed, Duration: d}
}

func TestEvaluate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hb        liveness.Heartbeat
		now       time.Time
		reachable bool
		reason    string
		expiresIn time.Duration
	}{
		{"no lease", liveness.Heartbeat{}, t0, false, fleetv1.ReasonNeverConnected, 0},
		{"just renewed", seen(t0, 10*time.Second), t0, true, fleetv1.ReasonHeartbeating, 10 * time.Second},
		{"mid lease", seen(t0, 10*time.Second), t0.Add(3500 * time.Millisecond), true, fleetv1.ReasonHeartbeating, 6500 * time.Millisecond},
		{"one instant before expiry", seen(t0, 10*time.Second), t0.Add(10*time.Second - time.Nanosecond), true, fleetv1.ReasonHeartbeating, time.Nanosecond},
		{"at expiry", seen(t0, 10*time.Second), t0.Add(10 * time.Second), false, fleetv1.ReasonLeaseExpired, 0},
		{"long expired", seen(t0, 10*time.Second), t0.Add(time.Hour), false, fleetv1.ReasonLeaseExpired, 0},
		{"no renew time", liveness.Heartbeat{Joined: true, Duration: 10 * time.Second}, t0, false, fleetv1.ReasonLeaseExpired, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Evaluate(tc.hb, tc.now)
			if h.Reachable != tc.reachable || h.Reason != tc.reason || h.ExpiresIn != tc.expiresIn {
				t.Fatalf("got reachable=%v reason=%s expiresIn=%s, want %v %s %s", h.Reachable, h.Reason, h.ExpiresIn, tc.reachable, tc.reason, tc.expiresIn)
			}
			if h.Message == "" {
				t.Fatal("no message")
			}
		})
	}
}

func TestExpiredMessageIsStable(t *testing.T) {
	// Status must not churn while a host stays silent.
	a := Evaluate(seen(t0, 10*time.Second), t0.Add(time.Minute))
	b := Evaluate(seen(t0, 10*time.Second), t0.Add(time.Hour))
	if a.Message != b.Message {
		t.Fatalf("message changes with time:\n%s\n%s", a.Message, b.Message)
	}
}

func TestSchedulableCondition(t *testing.T) {
	up := Health{Reachable: true}
	down := Health{}
	for _, tc := range []struct {
		name   string
		host   *fleetv1.HostCluster
		h      Health
		status metav1.ConditionStatus
		reason string
	}{
		{"healthy", builder.MakeHostCluster("a", "r").Obj(), up, metav1.ConditionTrue, fleetv1.ReasonAcceptingWork},
		{"cordoned", builder.MakeHostCluster("a", "r").Cordoned().Obj(), up, metav1.ConditionFalse, fleetv1.ReasonCordoned},
		{"unreachable", builder.MakeHostCluster("a", "r").Obj(), down, metav1.ConditionFalse, fleetv1.ReasonUnreachable},
		{"cordoned wins over unreachable", builder.MakeHostCluster("a", "r").Cordoned().Obj(), down, metav1.ConditionFalse, fleetv1.ReasonCordoned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := SchedulableCondition(tc.host, tc.h)
			if c.Status != tc.status || c.Reason != tc.reason {
				t.Fatalf("got %s/%s, want %s/%s", c.Status, c.Reason, tc.status, tc.reason)
			}
		})
	}
}

func TestSetUnreachableTaint(t *testing.T) {
	gpu := corev1.Taint{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}
	unreachable := corev1.Taint{Key: fleetv1.TaintUnreachable, Effect: corev1.TaintEffectNoSchedule}
	for _, tc := range []struct {
		name    string
		in      []corev1.Taint
		want    bool
		keys    []string
		changed bool
	}{
		{"add to none", nil, true, []string{fleetv1.TaintUnreachable}, true},
		{"add after others", []corev1.Taint{gpu}, true, []string{"gpu", fleetv1.TaintUnreachable}, true},
		{"already there", []corev1.Taint{gpu, unreachable}, true, []string{"gpu", fleetv1.TaintUnreachable}, false},
		{"remove", []corev1.Taint{unreachable, gpu}, false, []string{"gpu"}, true},
		{"nothing to remove", []corev1.Taint{gpu}, false, []string{"gpu"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, changed := SetUnreachableTaint(tc.in, tc.want, t0)
			if changed != tc.changed {
				t.Fatalf("changed = %v", changed)
			}
			var keys []string
			for _, t := range out {
				keys = append(keys, t.Key)
			}
			if len(keys) != len(tc.keys) {
				t.Fatalf("taints %v, want %v", keys, tc.keys)
			}
			for i := range keys {
				if keys[i] != tc.keys[i] {
					t.Fatalf("taints %v, want %v", keys, tc.keys)
				}
			}
		})
	}
}
