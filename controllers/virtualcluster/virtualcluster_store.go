package virtualcluster

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
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
//
// Credentials that expire (etcd's client certificates) are issued again in
// the last quarter of their life, over the same login; the agent restarts
// the control plane on them. This runs only for an epoch that is not being
// fenced (reconcileMove comes first), and renewal never brings a fenced
// login back, so a reconcile that read an older status cannot undo a fence.
func (r *Reconciler) provisionStore(ctx context.Context, vc *fleetv1.VirtualCluster, bs *fleetv1.BackingStore) error {
	key := client.ObjectKey{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: storeCredentialsSecret(vc)}
	existing := &corev1.Secret{}
	if err := r.Client.Get(ctx, key, existing); err == nil {
		return r.renewStoreCredentials(ctx, vc, bs, existing)
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	start := r.Clock.Now()
	data, err := r.provision(ctx, vc, bs)
	recordSpan(ctx, vc, spanProvisionStore, start, r.Clock.Now(), err)
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

// provision makes the vcluster's space on bs and its login of the current
// epoch there, and returns the credentials.
func (r *Reconciler) provision(ctx context.Context, vc *fleetv1.VirtualCluster, bs *fleetv1.BackingStore) (map[string][]byte, error) {
	admin, err := stores.AdminFor(ctx, r.reader(), bs)
	if err != nil {
		return nil, err
	}
	return admin.Provision(ctx, stores.Space(bs.Spec.Driver, vc.StoreUID()), vc.Status.Epoch)
}

// renewStoreCredentials issues the epoch's credentials in secret again
// when they are due.
func (r *Reconciler) renewStoreCredentials(ctx context.Context, vc *fleetv1.VirtualCluster, bs *fleetv1.BackingStore, secret *corev1.Secret) error {
	if !stores.RenewalDue(secret.Data, r.Clock.Now()) {
		return nil
	}
	admin, err := stores.AdminFor(ctx, r.reader(), bs)
	if err != nil {
		return err
	}
	renewer, ok := admin.(stores.Renewer)
	if !ok {
		return nil
	}
	data, err := renewer.Renew(ctx, stores.Space(bs.Spec.Driver, vc.StoreUID()), vc.Status.Epoch)
	if err != nil {
		return fmt.Errorf("renew the credentials of epoch %d: %w", vc.Status.Epoch, err)
	}
	before := secret.DeepCopy()
	secret.Data = data
	// Over the Secret read (optimistic lock): two renewals never race.
	if err := r.Client.Patch(ctx, secret, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("Renewed the store credentials of the current epoch", "secret", klog.KObj(secret), "epoch", vc.Status.Epoch)
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
	return admin, stores.Space(bs.Spec.Driver, vc.StoreUID()), err
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
