package agent

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/identity"
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

// errNoIdentity: the hub has not handed this host the vcluster's identity
// yet.
var errNoIdentity = errors.New("waiting for the vcluster's identity")

// identityFor reads the vcluster's identity the hub put in the agent's
// namespace for cp, checked whole; nil when cp names none (a hub that
// keeps no identities: the control plane makes its own).
func identityFor(ctx context.Context, c client.Client, cp *fleetv1.ControlPlane) (map[string][]byte, error) {
	name := cp.Spec.IdentitySecret
	if name == "" {
		return nil, nil
	}
	secret := &corev1.Secret{}
	err := c.Get(ctx, client.ObjectKey{Namespace: cp.Namespace, Name: name}, secret)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w (Secret %s)", errNoIdentity, name)
	}
	if err != nil {
		return nil, err
	}
	if _, err := identity.Parse(secret.Data); err != nil {
		return nil, fmt.Errorf("the vcluster's identity in Secret %s: %w", name, err)
	}
	return secret.Data, nil
}
