package backingstore

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/stores"
)

// How often a store is checked again: soon while it is not ready, and now
// and then while it is, to notice an outage.
const (
	recheckNotReady = 15 * time.Second
	recheckReady    = 2 * time.Minute
	loginTimeout    = 5 * time.Second
)

// Reconciler checks BackingStores.
type Reconciler struct {
	Client client.Client
	// Reader reads the admin credentials Secret, which the hub does not
	// cache: it holds only Secrets vfleet made.
	Reader client.Reader
}

// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=backingstores,verbs=get;list;watch
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=backingstores/status,verbs=get;update;patch

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil || r.Reader == nil {
		return errors.New("backingstore: Client and Reader are required")
	}
	return ctrl.NewControllerManagedBy(mgr).Named("backingstore").For(&fleetv1.BackingStore{}).Complete(r)
}

// Reconcile logs in to the store and records whether that worked.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	bs := &fleetv1.BackingStore{}
	if err := r.Client.Get(ctx, req.NamespacedName, bs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	admin, err := stores.AdminFor(ctx, r.Reader, bs)
	if err == nil {
		login, cancel := context.WithTimeout(ctx, loginTimeout)
		err = admin.Ping(login)
		cancel()
	}
	cond := readyCondition(bs, err)
	before := bs.DeepCopy()
	bs.Status.ObservedGeneration = bs.Generation
	meta.SetStatusCondition(&bs.Status.Conditions, cond)
	if err := r.Client.Status().Patch(ctx, bs, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, err
	}
	if cond.Status == metav1.ConditionTrue {
		return ctrl.Result{RequeueAfter: recheckReady}, nil
	}
	return ctrl.Result{RequeueAfter: recheckNotReady}, nil
}
