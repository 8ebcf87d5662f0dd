package agent

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/stores"
)

// errNoCredentials: the hub has not written this epoch's credentials yet.
var errNoCredentials = errors.New("waiting for the store credentials of this epoch")

// backendFor resolves the control plane's store, a kine endpoint or an
// etcd backend, from its spec and this epoch's credentials Secret, in the
// agent's namespace.
// Embedded stores have none: the control plane uses SQLite in its data
// directory.
func backendFor(ctx context.Context, c client.Client, cp *fleetv1.ControlPlane) (string, error) {
	store := cp.Spec.Store
	if store.Type != fleetv1.BackingStoreExternal {
		return "", nil
	}
	secret := &corev1.Secret{}
	err := c.Get(ctx, client.ObjectKey{Namespace: cp.Namespace, Name: store.CredentialsSecret}, secret)
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("%w (Secret %s)", errNoCredentials, store.CredentialsSecret)
	}
	if err != nil {
		return "", err
	}
	return stores.Backend(store, secret.Data)
}
