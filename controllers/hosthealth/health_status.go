package hosthealth

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/liveness"
)

// Health is what a host's heartbeat says at a moment.
type Health struct {
	// Reachable is true while the agent's last renewal holds.
	Reachable bool
	// Reason and Message explain Ready.
	Reason  string
	Message string
	// ExpiresIn is how long the last renewal still holds; zero once it
	// does not.
	ExpiresIn time.Duration
}

// Evaluate says what a host's heartbeat, as the hub has seen it, means at
// now. A renewal holds for the Lease's duration from when the hub saw it;
// at the expiry instant it no longer does.
func Evaluate(hb liveness.Heartbeat, now time.Time) Health {
	if !hb.Joined {
		return Health{
			Reason:  fleetv1.ReasonNeverConnected,
			Message: "no agent has joined for this host yet: run vfleet agent on it with a bootstrap token",
		}
	}
	expiry := hb.Expiry()
	if expiry.IsZero() {
		return Health{
			Reason:  fleetv1.ReasonLeaseExpired,
			Message: "the agent's Lease has no renew time or duration",
		}
	}
	if now.Before(expiry) {
		return Health{
			Reachable: true,
			Reason:    fleetv1.ReasonHeartbeating,
			Message:   fmt.Sprintf("the agent renews its Lease (duration %s)", hb.Duration),
			ExpiresIn: expiry.Sub(now),
		}
	}
	// The message depends on the heartbeat only, not on now, so that
	// status does not change on every look while the host stays silent.
	return Health{
		Reason: fleetv1.ReasonLeaseExpired,
		Message: fmt.Sprintf("the hub last saw the agent renew its Lease at %s and has heard nothing for the %s a renewal holds: check that vfleet agent runs on the host and reaches the management cluster",
			hb.Renewed.UTC().Format(time.RFC3339), hb.Duration),
	}
}

// ReadyCondition is the host's Ready condition for h.
func ReadyCondition(h Health, generation int64) metav1.Condition {
	status := metav1.ConditionUnknown
	if h.Reachable {
		status = metav1.ConditionTrue
	}
	return metav1.Condition{
		Type: fleetv1.ConditionReady, Status: status, Reason: h.Reason, Message: h.Message,
		ObservedGeneration: generation,
	}
}

// SchedulableCondition says whether placement may use the host: not when
// it is cordoned or unreachable.
func SchedulableCondition(host *fleetv1.HostCluster, h Health) metav1.Condition {
	c := metav1.Condition{
		Type: fleetv1.ConditionSchedulable, Status: metav1.ConditionTrue,
		Reason: fleetv1.ReasonAcceptingWork, Message: "new virtual clusters may be placed on this host",
		ObservedGeneration: host.Generation,
	}
	switch {
	case host.Spec.Unschedulable:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, fleetv1.ReasonCordoned, "the host is cordoned (spec.unschedulable); virtual clusters already on it stay"
	case !h.Reachable:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, fleetv1.ReasonUnreachable, "the host's agent is not heartbeating; it carries the "+fleetv1.TaintUnreachable+" taint"
	}
	return c
}

// SetUnreachableTaint returns taints with the unreachable taint present or
// absent as want says, and whether that changed anything. Other taints are
// kept in their order.
func SetUnreachableTaint(taints []corev1.Taint, want bool, now time.Time) ([]corev1.Taint, bool) {
	var out []corev1.Taint
	has := false
	for _, t := range taints {
		if t.Key == fleetv1.TaintUnreachable && t.Effect == corev1.TaintEffectNoSchedule {
			has = true
			if !want {
				continue
			}
		}
		out = append(out, t)
	}
	if want && !has {
		added := metav1.NewTime(now)
		out = append(out, corev1.Taint{Key: fleetv1.TaintUnreachable, Effect: corev1.TaintEffectNoSchedule, TimeAdded: &added})
	}
	return out, want != has
}
