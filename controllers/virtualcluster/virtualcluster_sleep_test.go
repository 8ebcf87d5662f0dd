package virtualcluster

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// wakeAsked is v with vfleet wake's annotation at t.
func wakeAsked(v *fleetv1.VirtualCluster, t time.Time) *fleetv1.VirtualCluster {
	v.Annotations = map[string]string{fleetv1.AnnotationWake: t.Format(time.RFC3339Nano)}
	return v
}

func TestDecideSleep(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	vc := func(after time.Duration, asked bool, phase fleetv1.VirtualClusterPhase, readySince time.Time, sleep *fleetv1.SleepStatus) *fleetv1.VirtualCluster {
		v := &fleetv1.VirtualCluster{}
		v.Spec.Sleep = &fleetv1.SleepPolicy{Sleeping: asked}
		if after > 0 {
			v.Spec.Sleep.AfterInactivity = &metav1.Duration{Duration: after}
		}
		v.Status.Phase, v.Status.Sleep = phase, sleep
		v.Status.Conditions = []metav1.Condition{{Type: fleetv1.ConditionReady, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(readySince)}}
		return v
	}
	inactive := &fleetv1.SleepStatus{Since: metav1.NewTime(ago(time.Minute)), Reason: fleetv1.SleepInactive}
	for _, tc := range []struct {
		name     string
		vc       *fleetv1.VirtualCluster
		lastUsed time.Time
		want     sleepDecision
	}{
		{"no policy", vc(0, false, fleetv1.PhaseReady, ago(time.Hour), nil), time.Time{}, sleepDecision{}},
		{"used lately", vc(30*time.Minute, false, fleetv1.PhaseReady, ago(time.Hour), nil), ago(10 * time.Minute), sleepDecision{wait: 20 * time.Minute}},
		{"idle long enough", vc(30*time.Minute, false, fleetv1.PhaseReady, ago(time.Hour), nil), ago(31 * time.Minute), sleepDecision{sleep: true}},
		{"never used, Ready long enough", vc(30*time.Minute, false, fleetv1.PhaseReady, ago(time.Hour), nil), time.Time{}, sleepDecision{sleep: true}},
		{"never used, Ready lately", vc(30*time.Minute, false, fleetv1.PhaseReady, ago(time.Minute), nil), time.Time{}, sleepDecision{wait: 29 * time.Minute}},
		{"not Ready: starting or moving", vc(30*time.Minute, false, fleetv1.PhaseProvisioning, ago(time.Hour), nil), time.Time{}, sleepDecision{}},
		{"asked to sleep: the tenant's", vc(30*time.Minute, true, fleetv1.PhaseReady, ago(time.Hour), nil), time.Time{}, sleepDecision{}},
		{"inactive, no request since", vc(30*time.Minute, false, fleetv1.PhaseSleeping, ago(time.Hour), inactive), ago(2 * time.Minute), sleepDecision{}},
		{"inactive, a request since: wake", vc(30*time.Minute, false, fleetv1.PhaseSleeping, ago(time.Hour), inactive), ago(time.Second), sleepDecision{wake: true}},
		{"inactive, vfleet wake since", wakeAsked(vc(30*time.Minute, false, fleetv1.PhaseSleeping, ago(time.Hour), inactive), ago(time.Second)), ago(2 * time.Minute), sleepDecision{wake: true}},
		{"inactive, vfleet wake before it fell asleep", wakeAsked(vc(30*time.Minute, false, fleetv1.PhaseSleeping, ago(time.Hour), inactive), ago(2*time.Minute)), ago(2 * time.Minute), sleepDecision{}},
		{"inactive, a wake dated next year", wakeAsked(vc(30*time.Minute, false, fleetv1.PhaseSleeping, ago(time.Hour), inactive), now.AddDate(1, 0, 0)), ago(2 * time.Minute), sleepDecision{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decideSleep(tc.vc, tc.lastUsed, now); got != tc.want {
				t.Errorf("decideSleep = %+v; want %+v", got, tc.want)
			}
		})
	}
}
