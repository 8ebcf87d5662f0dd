package hosthealth

import (
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// Health is what a host's Lease says at a moment.
type Health struct {
	// Reachable is true while the Lease is current.
	Reachable bool
	// Reason and Message explain Ready.
	Reason  string
	Message string
	// ExpiresIn is how long the Lease stays current; zero once it is not.
	ExpiresIn time.Duration
}

// Evaluate reads a host's agent Lease at now. A Lease is current from its
// renewTime for leaseDurationSeconds; at the expiry instant it no longer is.
// lease is nil when the agent never created one.
func Evaluate(lease *coordinationv1.Lease, now time.Time) Health {
	if lease == nil {
		return Health{
			Reason:  fleetv1.ReasonNeverConnected,
			Message: "no agent has joined for this host yet: run vfleet agent on it with a bootstrap token",
		}
	}
	renew := lease.Spec.RenewTime
	if renew == nil {
		renew = lease.Spec.AcquireTime
	}
	if renew == nil || lease.Spec.LeaseDurationSeconds == nil {
		return Health{
			Reason:  fleetv1.ReasonLeaseExpired,
			Message: "the agent's Lease has no renew time or duration",
		}
	}
	duration := time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
	expiry := renew.Add(duration)
	if now.Before(expiry) {
		return Health{
			Reachable: true,
			Reason:    fleetv1.ReasonHeartbeating,
			Message:   fmt.Sprintf("the agent renews its Lease (duration %s)", duration),
			ExpiresIn: expiry.Sub(now),
		}
	}
	// The message depends on the Lease only, not on now, so that status
	// does not change on every look while the host stays silent.
	return Health{
		Reason: fleetv1.ReasonLeaseExpired,
		Message: fmt.Sprintf("the agent last renewed its Lease at %s and it expired at %s: check that vfleet agent runs on the host and reaches the management cluster",
			renew.UTC().Format(time.RFC3339), expiry.UTC().Format(time.RFC3339)),
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
