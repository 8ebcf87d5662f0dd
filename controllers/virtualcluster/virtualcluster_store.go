package virtualcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/backingstore"
	"github.com/vfleet/vfleet/internal/postgres"
)

// StoreDatabase is the database (PostgreSQL) that holds an External
// vcluster's state.
func StoreDatabase(vc *fleetv1.VirtualCluster) string {
	return "vfleet_" + strings.ReplaceAll(string(vc.UID), "-", "_")
}

// storeCredentialsSecret names the Secret, in the host's namespace, with
// the credentials of the vcluster's current epoch.
func storeCredentialsSecret(vc *fleetv1.VirtualCluster) string {
	return storeCredentialsSecretAt(vc, vc.Status.Epoch)
}

func storeCredentialsSecretAt(vc *fleetv1.VirtualCluster, epoch int64) string {
	return fmt.Sprintf("%s-store-e%d", ControlPlaneName(vc), epoch)
}

// provisionStore makes the vcluster's database on its BackingStore, and a
// login for the current epoch, whose credentials it puts where the host's
// agent reads them. Each epoch gets its own login, so that an earlier one
// can be fenced off without touching the current.
func (r *Reconciler) provisionStore(ctx context.Context, vc *fleetv1.VirtualCluster, bs *fleetv1.BackingStore) error {
	if err := administrable(bs); err != nil {
		return err
	}
	key := client.ObjectKey{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: storeCredentialsSecret(vc)}
	if err := r.Client.Get(ctx, key, &corev1.Secret{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	admin, err := backingstore.AdminFor(ctx, r.reader(), bs)
	if err != nil {
		return err
	}
	db := StoreDatabase(vc)
	if err := admin.EnsureDatabase(ctx, db); err != nil {
		return err
	}
	password := randomHex(24)
	role, err := admin.EnsureEpochRole(ctx, db, vc.Status.Epoch, password)
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{
			fleetv1.LabelManagedBy: fleetv1.ManagedByValue, fleetv1.LabelHost: vc.Status.Host,
			fleetv1.LabelVirtualClusterUID: string(vc.UID), fleetv1.LabelVirtualCluster: vc.Name, fleetv1.LabelVirtualClusterNamespace: vc.Namespace,
		}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{fleetv1.SecretUsernameKey: []byte(role), fleetv1.SecretPasswordKey: []byte(password)},
	}
	if err := r.Client.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// administrable says why the hub cannot administer bs.
func administrable(bs *fleetv1.BackingStore) error {
	if bs.Spec.Driver != fleetv1.DriverPostgreSQL {
		return fmt.Errorf("backing store %s: this hub cannot administer %s stores yet", bs.Name, bs.Spec.Driver)
	}
	return nil
}

// storeAdmin administers the vcluster's BackingStore.
func (r *Reconciler) storeAdmin(ctx context.Context, vc *fleetv1.VirtualCluster) (postgres.Admin, error) {
	bs := &fleetv1.BackingStore{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: vc.Spec.BackingStore.Name}, bs); err != nil {
		return postgres.Admin{}, fmt.Errorf("backing store %s: %w", vc.Spec.BackingStore.Name, err)
	}
	if err := administrable(bs); err != nil {
		return postgres.Admin{}, err
	}
	return backingstore.AdminFor(ctx, r.reader(), bs)
}

// dropStore removes an External vcluster's database, its logins, and the
// credentials Secrets of all its epochs.
func (r *Reconciler) dropStore(ctx context.Context, vc *fleetv1.VirtualCluster) error {
	if vc.Spec.BackingStore.Type != fleetv1.BackingStoreExternal {
		return nil
	}
	bs := &fleetv1.BackingStore{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: vc.Spec.BackingStore.Name}, bs); err != nil {
		if apierrors.IsNotFound(err) {
			// The store is gone, and its databases with it.
			return nil
		}
		return err
	}
	if bs.Spec.Driver == fleetv1.DriverPostgreSQL {
		admin, err := backingstore.AdminFor(ctx, r.reader(), bs)
		if err != nil {
			return err
		}
		if err := admin.DropDatabase(ctx, StoreDatabase(vc)); err != nil {
			return fmt.Errorf("drop the database of vcluster %s: %w", vc.Name, err)
		}
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

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
