package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// Activity hears that a vcluster is used through the gateway.
type Activity interface {
	// Used says route's vcluster is used now; waking, that a connection
	// waits for it to wake.
	Used(route Route, waking bool)
}

// LeaseActivity tells the hub when each vcluster was last used by
// renewing its activity Lease (fleetv1.ActivityLeaseName) in Namespace:
// at most every Every while it is used, and within a second when a
// connection waits for it, which is how a request wakes a sleeping
// vcluster. Renewals run in the background: no connection waits for the
// API.
type LeaseActivity struct {
	Client    client.Client
	Namespace string
	Every     time.Duration
	Log       logr.Logger

	mu   sync.Mutex
	last map[types.UID]time.Time
}

var _ Activity = (*LeaseActivity)(nil)

// Used implements Activity.
func (a *LeaseActivity) Used(r Route, waking bool) {
	if r.UID == "" {
		return
	}
	now := time.Now()
	gap := a.Every
	if waking {
		gap = time.Second
	}
	a.mu.Lock()
	if a.last == nil {
		a.last = map[types.UID]time.Time{}
	}
	if t, ok := a.last[r.UID]; ok && now.Sub(t) < gap {
		a.mu.Unlock()
		return
	}
	a.last[r.UID] = now
	a.mu.Unlock()
	go a.renew(r, now)
}

func (a *LeaseActivity) renew(r Route, now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: fleetv1.ActivityLeaseName(r.UID)}}
	_, err := controllerutil.CreateOrUpdate(ctx, a.Client, lease, func() error {
		lease.Labels = map[string]string{
			fleetv1.LabelActivity: "true", fleetv1.LabelManagedBy: fleetv1.ManagedByValue,
			fleetv1.LabelVirtualCluster: r.VirtualCluster.Name, fleetv1.LabelVirtualClusterNamespace: r.VirtualCluster.Namespace,
		}
		lease.Spec.HolderIdentity = ptr.To("vfleet-gateway")
		lease.Spec.RenewTime = &metav1.MicroTime{Time: now}
		return nil
	})
	if err != nil {
		a.Log.Error(err, "Could not record a vcluster's use", "virtualCluster", r.VirtualCluster)
		// The next use tries again at once.
		a.mu.Lock()
		delete(a.last, r.UID)
		a.mu.Unlock()
	}
}
