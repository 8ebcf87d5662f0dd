package virtualcluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/placement"
)

// feeder keeps the placement engine's snapshot in step with the API from
// informer events: hosts, backing stores, and every VirtualCluster that
// already has a host, which is how the reservation ledger is rebuilt when
// the hub restarts.
type feeder struct {
	engine   *placement.Engine
	overhead placement.Overhead
	synced   []toolscache.InformerSynced
	// changed is signalled after the engine has taken in a change that
	// may let a pending vcluster fit. Waking pending vclusters from here,
	// and not from a watch of their own, orders the retry after the
	// update: handlers of one informer run in no fixed order. One buffered
	// slot coalesces a burst into one wake.
	changed chan event.GenericEvent

	mu sync.Mutex
	// claims are the vclusters whose released reservation the reconciler
	// has just held again for a wake, and when: an event of their status
	// from before, which says released and may be handled after, must not
	// give it back (another vcluster could take the room meanwhile, and
	// the reservation's return would not check it). A claim ends with the
	// first event that says held, or after claimFor.
	claims map[types.UID]time.Time
}

// claimFor bounds a claim whose status write never came.
const claimFor = 30 * time.Second

// claim records that the reconciler holds uid's reservation again.
func (f *feeder) claim(uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.claims == nil {
		f.claims = map[types.UID]time.Time{}
	}
	f.claims[uid] = time.Now()
}

// released takes in a status that says vc's reservation is released.
func (f *feeder) released(vc *fleetv1.VirtualCluster) {
	f.mu.Lock()
	at, claimed := f.claims[vc.UID]
	f.mu.Unlock()
	if claimed && time.Since(at) < claimFor {
		return
	}
	f.engine.Release(vc.UID)
}

// held takes in a status that says vc's host holds its reservation.
func (f *feeder) held(vc *fleetv1.VirtualCluster) {
	f.mu.Lock()
	delete(f.claims, vc.UID)
	f.mu.Unlock()
	f.engine.Reserve(placement.ReservationFor(vc, f.overhead), vc.Status.Host)
}

// signal wakes pending vclusters, unless a wake is already queued.
func (f *feeder) signal() {
	select {
	case f.changed <- event.GenericEvent{}:
	default:
	}
}

func (f *feeder) register(ctx context.Context, mgr ctrl.Manager) error {
	handlers := []struct {
		obj     client.Object
		upsert  func(obj any)
		deleted func(obj any)
	}{
		{&fleetv1.HostCluster{}, func(o any) {
			if hc, ok := o.(*fleetv1.HostCluster); ok {
				f.engine.UpsertHost(placement.HostFrom(hc))
				f.signal()
			}
		}, func(o any) {
			if hc, ok := unwrap(o).(*fleetv1.HostCluster); ok {
				f.engine.DeleteHost(hc.Name)
			}
		}},
		{&fleetv1.BackingStore{}, func(o any) {
			if bs, ok := o.(*fleetv1.BackingStore); ok {
				f.engine.UpsertStore(bs)
				f.signal()
			}
		}, func(o any) {
			if bs, ok := unwrap(o).(*fleetv1.BackingStore); ok {
				f.engine.DeleteStore(bs.Name)
			}
		}},
		{&fleetv1.VirtualCluster{}, func(o any) {
			vc, ok := o.(*fleetv1.VirtualCluster)
			switch {
			case !ok || vc.Status.Host == "":
			case vc.Status.ReservationReleased:
				// Asleep, its host holds nothing for it.
				f.released(vc)
			default:
				f.held(vc)
			}
		}, func(o any) {
			if vc, ok := unwrap(o).(*fleetv1.VirtualCluster); ok {
				f.engine.Release(vc.UID)
				f.signal() // its capacity is free
			}
		}},
	}
	for _, h := range handlers {
		inf, err := mgr.GetCache().GetInformer(ctx, h.obj)
		if err != nil {
			return err
		}
		reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    h.upsert,
			UpdateFunc: func(_, o any) { h.upsert(o) },
			DeleteFunc: h.deleted,
		})
		if err != nil {
			return fmt.Errorf("watch %T for placement: %w", h.obj, err)
		}
		f.synced = append(f.synced, reg.HasSynced)
	}
	return nil
}

// wait returns once the snapshot holds everything the API held when the
// hub started, so no decision is made against a half-built ledger.
func (f *feeder) wait(ctx context.Context) bool {
	return toolscache.WaitForCacheSync(ctx.Done(), f.synced...)
}

func unwrap(o any) any {
	if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		return d.Obj
	}
	return o
}
