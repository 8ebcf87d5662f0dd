// Package stores is what vfleet knows of backing stores: the Admin that
// gives each vcluster a space and each epoch a login on a PostgreSQL or
// etcd server, and the backend string a control plane's kine or
// apiserver is given.
package stores

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/pki"
	"github.com/vfleet/vfleet/stores/etcdstore"
	"github.com/vfleet/vfleet/stores/postgres"
)

// Admin administers the vclusters' spaces on one BackingStore: a
// database on PostgreSQL, a key prefix on etcd. Every placement epoch of a
// vcluster gets a login of its own, so that one can be fenced off without
// touching the next.
type Admin interface {
	// Ping checks that the store answers and takes the admin credentials,
	// with the rights the other methods need.
	Ping(ctx context.Context) error
	// Provision makes the vcluster's space, if missing, and a login for
	// epoch, and returns that login's credentials as the data of the
	// Secret the control plane reads them from.
	Provision(ctx context.Context, space string, epoch int64) (map[string][]byte, error)
	// Fence takes epoch's login away. Once it returns, no write of that
	// epoch can land.
	Fence(ctx context.Context, space string, epoch int64) error
	// Drop deletes the space and every login of it.
	Drop(ctx context.Context, space string) error
}

// Renewer is an Admin whose epoch credentials expire (etcd's client
// certificates; PostgreSQL's passwords do not).
type Renewer interface {
	// Renew issues an epoch's credentials again over the same login, and
	// fails for an epoch whose login is fenced: renewing never brings a
	// fenced epoch back.
	Renew(ctx context.Context, space string, epoch int64) (map[string][]byte, error)
}

// RenewalDue reports whether the epoch credentials in data, a credentials
// Secret's data as Provision made it, hold a certificate in the last
// quarter of its life at now.
func RenewalDue(data map[string][]byte, now time.Time) bool {
	cert := data[fleetv1.SecretTLSCertKey]
	if len(cert) == 0 {
		return false
	}
	due, _, err := pki.Expiring(cert, now)
	// A certificate that cannot be read is issued again too.
	return due || err != nil
}

// Space names the database (PostgreSQL) or prefix (etcd, without its
// leading slash) that holds the vcluster with the given UID.
func Space(driver fleetv1.BackingStoreDriver, uid types.UID) string {
	if driver == fleetv1.DriverEtcd {
		return "vfleet-" + string(uid)
	}
	return "vfleet_" + strings.ReplaceAll(string(uid), "-", "_")
}

// Location is what a control plane's spec names as its store's database:
// the PostgreSQL database, or the etcd key prefix.
func Location(driver fleetv1.BackingStoreDriver, uid types.UID) string {
	if driver == fleetv1.DriverEtcd {
		return etcdstore.Prefix(Space(driver, uid))
	}
	return Space(driver, uid)
}

// AdminFor returns the administration of a BackingStore with its admin
// credentials.
func AdminFor(ctx context.Context, reader client.Reader, bs *fleetv1.BackingStore) (Admin, error) {
	ref := bs.Spec.AdminCredentials
	secret, err := readSecret(ctx, reader, ref, "admin credentials")
	if err != nil {
		return nil, err
	}
	switch bs.Spec.Driver {
	case fleetv1.DriverPostgreSQL:
		user := string(secret.Data[fleetv1.SecretUsernameKey])
		if err := requireKeys(secret, ref, "admin credentials", fleetv1.SecretUsernameKey); err != nil {
			return nil, err
		}
		ca, err := storeCA(ctx, reader, bs)
		if err != nil {
			return nil, err
		}
		sslmode := string(secret.Data[fleetv1.SecretSSLModeKey])
		if sslmode == "" && ca != nil {
			sslmode = postgres.VerifiedSSLMode
		}
		// A server that does not answer must not hold a reconcile for the
		// system's TCP timeout.
		url := postgres.URL(bs.Spec.Endpoint, "postgres", user, string(secret.Data[fleetv1.SecretPasswordKey]), sslmode) + "&connect_timeout=10"
		return pgAdmin{Admin: postgres.Admin{URL: url, CA: ca}, sslmode: sslmode}, nil
	case fleetv1.DriverEtcd:
		if err := requireKeys(secret, ref, "admin credentials", fleetv1.SecretTLSCertKey, fleetv1.SecretTLSKeyKey,
			fleetv1.SecretClientCACertKey, fleetv1.SecretClientCAKeyKey); err != nil {
			return nil, err
		}
		creds := etcdstore.AdminCredentials{
			Cert: secret.Data[fleetv1.SecretTLSCertKey], Key: secret.Data[fleetv1.SecretTLSKeyKey],
			ClientCACert: secret.Data[fleetv1.SecretClientCACertKey], ClientCAKey: secret.Data[fleetv1.SecretClientCAKeyKey],
		}
		ca, err := storeCA(ctx, reader, bs)
		if err != nil {
			return nil, err
		}
		creds.ServerCA = ca
		return etcdAdmin{etcdstore.Admin{Endpoint: bs.Spec.Endpoint, Creds: creds}}, nil
	}
	return nil, fmt.Errorf("backing store %s: driver %q is not one this hub knows", bs.Name, bs.Spec.Driver)
}

// storeCA is the CA that verifies the store's server, from its CASecret;
// nil when it has none.
func storeCA(ctx context.Context, reader client.Reader, bs *fleetv1.BackingStore) ([]byte, error) {
	ref := bs.Spec.CASecret
	if ref == nil {
		return nil, nil
	}
	ca, err := readSecret(ctx, reader, *ref, "CA")
	if err != nil {
		return nil, err
	}
	if err := requireKeys(ca, *ref, "CA", fleetv1.SecretCAKey); err != nil {
		return nil, err
	}
	return ca.Data[fleetv1.SecretCAKey], nil
}

func readSecret(ctx context.Context, reader client.Reader, ref fleetv1.SecretReference, what string) (*corev1.Secret, error) {
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, secret); apierrors.IsNotFound(err) {
		return nil, &CredentialsError{fmt.Sprintf("%s Secret %s/%s not found", what, ref.Namespace, ref.Name)}
	} else if err != nil {
		return nil, err
	}
	return secret, nil
}

func requireKeys(secret *corev1.Secret, ref fleetv1.SecretReference, what string, keys ...string) error {
	var missing []string
	for _, k := range keys {
		if len(secret.Data[k]) == 0 {
			missing = append(missing, fmt.Sprintf("%q", k))
		}
	}
	if len(missing) > 0 {
		return &CredentialsError{fmt.Sprintf("%s Secret %s/%s has no %s", what, ref.Namespace, ref.Name, strings.Join(missing, ", "))}
	}
	return nil
}

// pgAdmin: a database per vcluster, a login role per epoch.
type pgAdmin struct {
	postgres.Admin
	sslmode string
}

func (a pgAdmin) Provision(ctx context.Context, space string, epoch int64) (map[string][]byte, error) {
	password := postgres.NewPassword()
	role, err := a.ProvisionEpoch(ctx, space, epoch, password)
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{fleetv1.SecretUsernameKey: []byte(role), fleetv1.SecretPasswordKey: []byte(password)}
	if a.sslmode != "" {
		data[fleetv1.SecretSSLModeKey] = []byte(a.sslmode)
	}
	if len(a.CA) > 0 {
		data[fleetv1.SecretCAKey] = a.CA
	}
	return data, nil
}

func (a pgAdmin) Drop(ctx context.Context, space string) error { return a.DropDatabase(ctx, space) }

// etcdAdmin: a key prefix and role per vcluster, a user with a client
// certificate per epoch.
type etcdAdmin struct{ etcdstore.Admin }

func (a etcdAdmin) Provision(ctx context.Context, space string, epoch int64) (map[string][]byte, error) {
	if err := a.EnsureSpace(ctx, space); err != nil {
		return nil, err
	}
	c, err := a.EnsureEpochUser(ctx, space, epoch)
	if err != nil {
		return nil, err
	}
	return epochData(c), nil
}

// Renew implements Renewer: the same user, a new certificate.
func (a etcdAdmin) Renew(ctx context.Context, space string, epoch int64) (map[string][]byte, error) {
	c, err := a.RenewEpochCert(ctx, space, epoch)
	if err != nil {
		return nil, err
	}
	return epochData(c), nil
}

func epochData(c etcdstore.EpochCredentials) map[string][]byte {
	data := map[string][]byte{fleetv1.SecretUsernameKey: []byte(c.User), fleetv1.SecretTLSCertKey: c.Cert, fleetv1.SecretTLSKeyKey: c.Key}
	if len(c.ServerCA) > 0 {
		data[fleetv1.SecretCAKey] = c.ServerCA
	}
	return data
}

func (a etcdAdmin) Drop(ctx context.Context, space string) error { return a.DropSpace(ctx, space) }

// EtcdSecrets is the data of an etcd BackingStore's admin credentials
// Secret and of its CA Secret, as AdminFor reads them.
func EtcdSecrets(c etcdstore.AdminCredentials) (admin, ca map[string][]byte) {
	admin = map[string][]byte{
		fleetv1.SecretTLSCertKey: c.Cert, fleetv1.SecretTLSKeyKey: c.Key,
		fleetv1.SecretClientCACertKey: c.ClientCACert, fleetv1.SecretClientCAKeyKey: c.ClientCAKey,
	}
	return admin, map[string][]byte{fleetv1.SecretCAKey: c.ServerCA}
}

// CredentialsError says what is wrong with an admin credentials or CA
// Secret.
type CredentialsError struct{ msg string }

func (e *CredentialsError) Error() string { return e.msg }
