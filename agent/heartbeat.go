package agent

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vfleet/vfleet/agent/runtime"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// heartbeat renews the host's Lease, and fences the host itself when it
// cannot: after selfFenceAfter without a renewal, the hub may be about to
// bring this host's vclusters up elsewhere, so every control plane here
// stops. The hub revokes their store credentials before it does, which is
// what guarantees a single writer; self-fencing stops the old copies from
// serving stale reads and failing writes meanwhile, and spares the store
// their retries.
type heartbeat struct {
	clock    clock.WithTicker
	leases   leaseClient
	host     string
	holder   string
	every    time.Duration
	duration time.Duration
	after    time.Duration
	runtime  runtime.Runtime

	// lease is the Lease as this agent last wrote it; only the renewing
	// goroutine touches it.
	lease *coordinationv1.Lease

	mu        sync.Mutex
	lastRenew time.Time
	fenced    bool
	// unfenced is signalled when the Lease is renewed again after a
	// fence, so that the control planes are brought back (or torn down,
	// if the hub moved them meanwhile).
	unfenced chan struct{}
}

type leaseClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error)
	Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error)
	Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error)
}

func newHeartbeat(clk clock.WithTicker, kube kubernetes.Interface, o *Options, rt runtime.Runtime) *heartbeat {
	holder, _ := os.Hostname()
	ns := fleetv1.HostNamespace(o.HostName)
	return &heartbeat{
		clock: clk, host: o.HostName, holder: o.HostName + "@" + holder,
		leases:   kube.CoordinationV1().Leases(ns),
		every:    o.LeaseRenewInterval,
		duration: o.LeaseDuration,
		after:    o.SelfFenceAfter,
		runtime:  rt,
		unfenced: make(chan struct{}, 1),
	}
}

// Fenced reports whether the control planes must stay stopped.
func (h *heartbeat) Fenced() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fenced
}

// Unfenced is signalled when a fence ends.
func (h *heartbeat) Unfenced() <-chan struct{} { return h.unfenced }

// Start renews the Lease every interval and watches how long ago it last
// succeeded, until ctx ends.
func (h *heartbeat) Start(ctx context.Context) error {
	h.mu.Lock()
	// The agent has just started: it gets the whole delay to reach the hub.
	h.lastRenew = h.clock.Now()
	h.mu.Unlock()
	renew := h.clock.NewTicker(h.every)
	defer renew.Stop()
	check := h.clock.NewTicker(200 * time.Millisecond)
	defer check.Stop()
	h.renew(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-renew.C():
			h.renew(ctx)
		case <-check.C():
			h.checkFence(ctx)
		}
	}
}

// renew writes the Lease's renew time, creating the Lease if need be.
func (h *heartbeat) renew(ctx context.Context) {
	h.mu.Lock()
	budget := renewBudget(h.lastRenew, h.clock.Now(), h.every, h.after)
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	now := metav1.NewMicroTime(h.clock.Now())
	// The Lease as this agent last wrote it is current unless someone
	// else wrote it since: one round trip a renewal rather than two, which
	// matters when the hub's apiserver is slow. A conflict, or a Lease
	// deleted behind the agent's back, reads it again at once.
	var err error
	for range 2 {
		if err = h.write(ctx, now); err == nil || (!apierrors.IsConflict(err) && !apierrors.IsNotFound(err)) {
			break
		}
		h.lease = nil
	}
	if err != nil {
		log.FromContext(ctx).V(1).Info("Cannot renew the heartbeat Lease", "error", err.Error())
		return
	}
	h.mu.Lock()
	h.lastRenew = now.Time
	wasFenced := h.fenced
	h.fenced = false
	h.mu.Unlock()
	if wasFenced {
		log.FromContext(ctx).Info("The hub hears from this host again; control planes the hub still places here start again")
		select {
		case h.unfenced <- struct{}{}:
		default:
		}
	}
}

// renewBudget is how long one renewal may take: until the host would fence
// itself, and at least an interval. On a loaded hub an apiserver that
// answers in five seconds still renews the Lease; an attempt cut short at
// two seconds and tried again would not, and the host would fence every
// control plane it runs, whose restarts load the machine further. A
// renewal that lands late is still safe: the hub judges the Lease by when
// it saw it change, and the agent's fence counts from before it was sent.
func renewBudget(lastRenew, now time.Time, every, after time.Duration) time.Duration {
	return max(every, lastRenew.Add(after).Sub(now))
}

// write renews the Lease at now from the copy this agent last wrote, or
// from the hub's when it has none.
func (h *heartbeat) write(ctx context.Context, now metav1.MicroTime) error {
	lease := h.lease.DeepCopy()
	if lease == nil {
		got, err := h.leases.Get(ctx, fleetv1.AgentLeaseName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			got = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: fleetv1.AgentLeaseName}}
		case err != nil:
			return fmt.Errorf("read the Lease: %w", err)
		}
		lease = got
	}
	if lease.Labels == nil {
		lease.Labels = map[string]string{}
	}
	lease.Labels[fleetv1.LabelHost] = h.host
	lease.Spec.HolderIdentity = ptr.To(h.holder)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(h.duration / time.Second))
	lease.Spec.RenewTime = &now
	var err error
	if lease.ResourceVersion == "" {
		lease.Spec.AcquireTime = &now
		lease, err = h.leases.Create(ctx, lease, metav1.CreateOptions{})
	} else {
		lease, err = h.leases.Update(ctx, lease, metav1.UpdateOptions{})
	}
	if err != nil {
		return err
	}
	h.lease = lease
	return nil
}

// checkFence stops every control plane once the Lease has gone unrenewed
// for the self-fencing delay.
func (h *heartbeat) checkFence(ctx context.Context) {
	h.mu.Lock()
	silent := h.clock.Since(h.lastRenew)
	due := !h.fenced && silent >= h.after
	if due {
		h.fenced = true
	}
	h.mu.Unlock()
	if !due {
		return
	}
	selfFences.Inc()
	log.FromContext(ctx).Info("Self-fencing: the Lease has not been renewed; stopping every control plane on this host",
		"silentFor", silent.Round(time.Millisecond), "selfFenceAfter", h.after)
	if err := h.runtime.Fence(ctx); err != nil {
		log.FromContext(ctx).Error(err, "Self-fencing did not stop every control plane")
	}
}
