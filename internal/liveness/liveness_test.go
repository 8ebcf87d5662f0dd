package liveness

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func lease(uid string, wrote time.Time, seconds int32) *coordinationv1.Lease {
	w := metav1.NewMicroTime(wrote)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)},
		Spec:       coordinationv1.LeaseSpec{RenewTime: &w, LeaseDurationSeconds: ptr.To(seconds)},
	}
}

// step is one look at a host's Lease at a moment of the hub's clock.
type step struct {
	lease *coordinationv1.Lease
	at    time.Duration // after t0, by the hub's clock
	alive bool
}

func TestTracker(t *testing.T) {
	year := 365 * 24 * time.Hour
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"renewing agent stays alive", []step{
			{lease("a", t0, 10), 0, true},
			{lease("a", t0.Add(2*time.Second), 10), 2 * time.Second, true},
			{lease("a", t0.Add(4*time.Second), 10), 11 * time.Second, true},
		}},
		{"silent agent expires a Lease duration after the hub last saw it renew", []step{
			{lease("a", t0, 10), 0, true},
			{lease("a", t0, 10), 10*time.Second - time.Nanosecond, true},
			{lease("a", t0, 10), 10 * time.Second, false},
		}},
		{"a time far in the future written once does not keep a silent host alive", []step{
			{lease("a", t0.Add(year), 10), 0, true},
			{lease("a", t0.Add(year), 10), 10 * time.Second, false},
			{lease("a", t0.Add(year), 10), time.Hour, false},
		}},
		{"an agent whose clock is an hour behind is alive while it renews", []step{
			{lease("a", t0.Add(-time.Hour), 10), 0, true},
			{lease("a", t0.Add(-time.Hour+2*time.Second), 10), 8 * time.Second, true},
			{lease("a", t0.Add(-time.Hour+4*time.Second), 10), 16 * time.Second, true},
		}},
		{"an hour-long Lease holds only MaxLeaseDuration", []step{
			{lease("a", t0, 3600), 0, true},
			{lease("a", t0, 3600), MaxLeaseDuration, false},
		}},
		{"a Lease made anew is a renewal, even with the same time", []step{
			{lease("a", t0, 10), 0, true},
			{lease("b", t0, 10), 9 * time.Second, true},
			{lease("b", t0, 10), 18 * time.Second, true},
			{lease("b", t0, 10), 19 * time.Second, false},
		}},
		{"a Lease without a renew time never counts", []step{
			{&coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To[int32](10)}}, 0, false},
		}},
		{"a Lease without a duration never counts", []step{
			{lease("a", t0, 0), 0, false},
		}},
		{"no Lease", []step{{nil, 0, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker()
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				if got := tr.Observe("h", s.lease, now).AliveAt(now); got != s.alive {
					t.Fatalf("step %d (hub clock t0+%s): alive = %v, want %v", i, s.at, got, s.alive)
				}
			}
		})
	}
}

func TestHostsAreApart(t *testing.T) {
	tr := NewTracker()
	tr.Observe("a", lease("a", t0, 10), t0)
	hb := tr.Observe("b", lease("b", t0, 10), t0.Add(5*time.Second))
	if !hb.Renewed.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("host b renewed at %s, want when the hub first saw it", hb.Renewed)
	}
	if hb := tr.Observe("a", nil, t0); hb.Joined || !hb.Renewed.IsZero() {
		t.Fatalf("a host without a Lease: %+v", hb)
	}
}
