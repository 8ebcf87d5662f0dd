package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/backingstore"
	"github.com/vfleet/vfleet/hub"
	"github.com/vfleet/vfleet/internal/postgres"
)

// The lab's BackingStores, where External vclusters keep their state:
// StoreName is its PostgreSQL server, EtcdStoreName its etcd store. Their
// admin credentials are the Secrets <name>-admin in the hub's namespace.
const (
	StoreName     = "lab-postgres"
	EtcdStoreName = "lab-etcd"
)

// postgresFallbackRoot keeps the data of labs whose directory the postgres
// user cannot reach (a lab in /root when running as root).
const postgresFallbackRoot = "/var/lib/vfleet/lab-postgres"

// postgresDir is where the management cluster rooted at root keeps its
// PostgreSQL cluster: inside the lab when the postgres user can reach it,
// else in a directory named after the lab's path, which clearLab removes
// with the lab.
func postgresDir(root string) string {
	in := filepath.Join(root, "postgres")
	if postgres.Reachable(in) == nil {
		return in
	}
	return postgresFallback(root)
}

func postgresFallback(root string) string {
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(postgresFallbackRoot, hex.EncodeToString(sum[:6]), "postgres")
}

// initPostgres initialises the PostgreSQL cluster once; its password is
// known from then on.
func (c *Cluster) initPostgres() (*postgres.Cluster, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pg != nil {
		return c.pg, nil
	}
	if os.Geteuid() == 0 {
		// The server runs as the postgres user; a lab directory made by
		// MkdirTemp (0700) lets it through once it may traverse it.
		for _, d := range []string{filepath.Dir(c.paths.root), c.paths.root} {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
					return nil, err
				}
			}
		}
	}
	pg, err := postgres.Init(postgresDir(c.paths.root))
	if err != nil {
		return nil, fmt.Errorf("%s: PostgreSQL: %w", c.Name, err)
	}
	c.pg = pg
	return pg, nil
}

// PostgresEndpoint is the lab's PostgreSQL server, host:port.
func (c *Cluster) PostgresEndpoint() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.ports.Postgres))
}

// PostgresPassword is the lab PostgreSQL superuser's password; the user is
// postgres.AdminUser.
func (c *Cluster) PostgresPassword() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pg == nil {
		return ""
	}
	return c.pg.Password
}

// registerStores records the lab's PostgreSQL server and its etcd store
// as BackingStores that every host region of the lab can reach.
func (c *Cluster) registerStores(ctx context.Context) error {
	pg, err := c.initPostgres()
	if err != nil {
		return err
	}
	etcd, err := c.StoreEtcdCredentials()
	if err != nil {
		return err
	}
	cl, err := client.New(c.restConfig, client.Options{Scheme: hub.Scheme()})
	if err != nil {
		return err
	}
	etcdAdmin, etcdCA := backingstore.EtcdSecrets(etcd)
	for _, s := range []struct {
		name, endpoint string
		driver         fleetv1.BackingStoreDriver
		admin, ca      map[string][]byte
	}{
		{StoreName, c.PostgresEndpoint(), fleetv1.DriverPostgreSQL, map[string][]byte{
			fleetv1.SecretUsernameKey: []byte(postgres.AdminUser),
			fleetv1.SecretPasswordKey: []byte(pg.Password),
		}, nil},
		{EtcdStoreName, c.StoreEtcdEndpoint(), fleetv1.DriverEtcd, etcdAdmin, etcdCA},
	} {
		if err := c.registerStore(ctx, cl, s.name, s.driver, s.endpoint, s.admin, s.ca); err != nil {
			return fmt.Errorf("%s: BackingStore %s: %w", c.Name, s.name, err)
		}
	}
	return nil
}

// registerStore writes a BackingStore and its Secrets (admin credentials,
// and a CA if ca is set), in the hub's namespace.
func (c *Cluster) registerStore(ctx context.Context, cl client.Client, name string, driver fleetv1.BackingStoreDriver, endpoint string, admin, ca map[string][]byte) error {
	secret := func(name string, data map[string][]byte) (*fleetv1.SecretReference, error) {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: hub.DefaultNamespace, Name: name}}
		_, err := controllerutil.CreateOrUpdate(ctx, cl, s, func() error {
			s.Data = data
			return nil
		})
		return &fleetv1.SecretReference{Namespace: s.Namespace, Name: s.Name}, err
	}
	adminRef, err := secret(name+"-admin", admin)
	if err != nil {
		return err
	}
	var caRef *fleetv1.SecretReference
	if ca != nil {
		if caRef, err = secret(name+"-ca", ca); err != nil {
			return err
		}
	}
	regions := slices.Clone(c.storeRegions)
	slices.Sort(regions)
	regions = slices.Compact(regions)
	home := "region-a"
	if len(regions) > 0 {
		home = regions[0]
	}
	bs := &fleetv1.BackingStore{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err = controllerutil.CreateOrUpdate(ctx, cl, bs, func() error {
		bs.Spec = fleetv1.BackingStoreSpec{
			Driver: driver, Endpoint: endpoint, Region: home,
			ReachableFromRegions: slices.DeleteFunc(regions, func(r string) bool { return r == home }),
			AdminCredentials:     *adminRef,
			CASecret:             caRef,
		}
		return nil
	})
	return err
}
