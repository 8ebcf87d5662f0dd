package agent

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/test/envtest"
)

func TestRenewBudget(t *testing.T) {
	last := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		since time.Duration
		want  time.Duration
	}{
		{name: "just renewed: until the fence", since: 0, want: 10 * time.Second},
		{name: "silent for 3s", since: 3 * time.Second, want: 7 * time.Second},
		{name: "near the fence: one interval", since: 9 * time.Second, want: 2 * time.Second},
		{name: "fenced already: one interval", since: time.Minute, want: 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := renewBudget(last, last.Add(tc.since), 2*time.Second, 10*time.Second); got != tc.want {
				t.Fatalf("renewBudget = %s, want %s", got, tc.want)
			}
		})
	}
}

// countingLeases counts the reads of the real API server's Leases.
type countingLeases struct {
	leaseClient
	gets int
}

func (c *countingLeases) Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error) {
	c.gets++
	return c.leaseClient.Get(ctx, name, opts)
}

// TestRenewWritesFromItsLastCopy renews a Lease on a real API server: one
// request a renewal, and a Lease someone else changed or deleted is read
// again and renewed in the same attempt.
func TestRenewWritesFromItsLastCopy(t *testing.T) {
	env, cfg, err := envtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kube := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	ns := fleetv1.HostNamespace("h1")
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	leases := kube.CoordinationV1().Leases(ns)
	counted := &countingLeases{leaseClient: leases}
	clk := clocktesting.NewFakeClock(time.Now().Truncate(time.Microsecond))
	h := &heartbeat{clock: clk, leases: counted, host: "h1", holder: "h1@test", every: 2 * time.Second, duration: 10 * time.Second, after: 10 * time.Second, unfenced: make(chan struct{}, 1)}

	renewed := func(step string, gets int) {
		t.Helper()
		h.renew(ctx)
		got, err := leases.Get(ctx, fleetv1.AgentLeaseName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if !got.Spec.RenewTime.Time.Equal(clk.Now()) || !h.lastRenew.Equal(clk.Now()) {
			t.Fatalf("%s: renew time %s, last renewal %s; want both %s", step, got.Spec.RenewTime, h.lastRenew, clk.Now())
		}
		if counted.gets != gets {
			t.Fatalf("%s: %d reads of the Lease in all, want %d", step, counted.gets, gets)
		}
		clk.Step(2 * time.Second)
	}
	renewed("created", 1)
	renewed("renewed without reading it", 1)
	renewed("and again", 1)

	lease, err := leases.Get(ctx, fleetv1.AgentLeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lease.Annotations = map[string]string{"someone": "else"}
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	renewed("changed by someone else: read again", 2)
	if err := leases.Delete(ctx, fleetv1.AgentLeaseName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	renewed("deleted: made again", 3)
}
