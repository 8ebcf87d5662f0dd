package backingstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/postgres"
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
	var cond metav1.Condition
	switch bs.Spec.Driver {
	case fleetv1.DriverPostgreSQL:
		admin, err := AdminFor(ctx, r.Reader, bs)
		if err == nil {
			login, cancel := context.WithTimeout(ctx, loginTimeout)
			err = admin.Ping(login)
			cancel()
		}
		cond = readyCondition(bs, err)
	default:
		cond = metav1.Condition{Type: fleetv1.ConditionReady, Status: metav1.ConditionFalse, Reason: ReasonDriverNotSupported,
			ObservedGeneration: bs.Generation, Message: fmt.Sprintf("this hub cannot provision %s stores yet", bs.Spec.Driver)}
	}
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

// AdminFor returns the administration of a PostgreSQL BackingStore with
// its admin credentials.
func AdminFor(ctx context.Context, reader client.Reader, bs *fleetv1.BackingStore) (postgres.Admin, error) {
	ref := bs.Spec.AdminCredentials
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, secret); apierrors.IsNotFound(err) {
		return postgres.Admin{}, &credentialsError{fmt.Sprintf("admin credentials Secret %s/%s not found", ref.Namespace, ref.Name)}
	} else if err != nil {
		return postgres.Admin{}, err
	}
	user := string(secret.Data[fleetv1.SecretUsernameKey])
	if user == "" {
		return postgres.Admin{}, &credentialsError{fmt.Sprintf("admin credentials Secret %s/%s has no %q", ref.Namespace, ref.Name, fleetv1.SecretUsernameKey)}
	}
	return postgres.Admin{URL: postgres.URL(bs.Spec.Endpoint, "postgres", user, string(secret.Data[fleetv1.SecretPasswordKey]), string(secret.Data[fleetv1.SecretSSLModeKey]))}, nil
}
