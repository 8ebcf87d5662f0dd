package virtualcluster

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/stores"
)

// storeCredentialsSecret names the Secret, in the host's namespace, with
// the credentials of the vcluster's current epoch.
func storeCredentialsSecret(vc *fleetv1.VirtualCluster) string {
	return storeCredentialsSecretAt(vc, vc.Status.Epoch)
}

func storeCredentialsSecretAt(vc *fleetv1.VirtualCluster, epoch int64) string {
	return fmt.Sprintf("%s-store-e%d", ControlPlaneName(vc), epoch)
}

// provisionStore makes the vcluster's space on its BackingStore, and a
// login for the current epoch, whose credentials it puts where the host's
// agent reads them. Each epoch gets its own login, so that an earlier one
// can be fenced off without touching the current.
func (r *Reconciler) provisionStore(ctx context.Context, vc *fleetv1.VirtualCluster, bs *fleetv1.BackingStore) error {
	key := client.ObjectKey{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: storeCredentialsSecret(vc)}
	if err := r.Client.Get(ctx, key, &corev1.Secret{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	admin, err := stores.AdminFor(ctx, r.reader(), bs)
	if err != nil {
		return err
	}
	data, err := admin.Provision(ctx, stores.Space(bs.Spec.Driver, vc.UID), vc.Status.Epoch)
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{
			fleetv1.LabelManagedBy: fleetv1.ManagedByValue, fleetv1.LabelHost: vc.Status.Host,
			fleetv1.LabelVirtualClusterUID: string(vc.UID), fleetv1.LabelVirtualCluster: vc.Name, fleetv1.LabelVirtualClusterNamespace: vc.Namespace,
		}},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
	if err := r.Client.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// storeAdmin administers the vcluster's BackingStore, and names the
// vcluster's space there.
func (r *Reconciler) storeAdmin(ctx context.Context, vc *fleetv1.VirtualCluster) (stores.Admin, string, error) {
	bs := &fleetv1.BackingStore{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: vc.Spec.BackingStore.Name}, bs); err != nil {
		return nil, "", fmt.Errorf("backing store %s: %w", vc.Spec.BackingStore.Name, err)
	}
	admin, err := stores.AdminFor(ctx, r.reader(), bs)
	return admin, stores.Space(bs.Spec.Driver, vc.UID), err
}

// dropStore removes an External vcluster's space, its logins, and the
// credentials Secrets of all its epochs.
func (r *Reconciler) dropStore(ctx context.Context, vc *fleetv1.VirtualCluster) error {
	if vc.Spec.BackingStore.Type != fleetv1.BackingStoreExternal {
		return nil
	}
	admin, space, err := r.storeAdmin(ctx, vc)
	if apierrors.IsNotFound(err) {
		// The store is gone, and its spaces with it.
		return nil
	}
	if err != nil {
		return err
	}
	if err := admin.Drop(ctx, space); err != nil {
		return fmt.Errorf("drop the store of vcluster %s: %w", vc.Name, err)
	}
	var secrets corev1.SecretList
	if err := r.Client.List(ctx, &secrets, client.MatchingLabels{fleetv1.LabelVirtualClusterUID: string(vc.UID), fleetv1.LabelManagedBy: fleetv1.ManagedByValue}); err != nil {
		return err
	}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		if strings.HasPrefix(s.Name, ControlPlaneName(vc)+"-store-e") {
			if err := r.Client.Delete(ctx, s); client.IgnoreNotFound(err) != nil {
				return err
			}
		}
	}
	return nil
}

// reader reads what the hub does not cache (admin credentials Secrets).
func (r *Reconciler) reader() client.Reader {
	if r.Reader != nil {
		return r.Reader
	}
	return r.Client
}
