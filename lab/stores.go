package lab

import (
	"context"
	"fmt"
	"os"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/hub"
	"github.com/vfleet/vfleet/lab/pgserver"
	"github.com/vfleet/vfleet/lab/realnode"
	"github.com/vfleet/vfleet/stores"
)

// The lab's BackingStores, where External vclusters keep their state:
// StoreName is its PostgreSQL server, EtcdStoreName its etcd store. Their
// admin credentials are the Secrets <name>-admin in the hub's namespace.
const (
	StoreName     = "lab-postgres"
	EtcdStoreName = "lab-etcd"
)

// registerStores records the lab's PostgreSQL server and its etcd store
// as BackingStores that every host region of the lab can reach.
func (c *Cluster) registerStores(ctx context.Context) error {
	// A region of a federation may use another region's stores.
	owner := c
	if c.region != nil && c.region.Stores != nil {
		owner = c.region.Stores.Management()
	}
	pg, err := owner.initPostgres()
	if err != nil {
		return err
	}
	// Its clients verify the server (verify-full) with the CA it made.
	pgCA, err := os.ReadFile(pg.CAFile())
	if err != nil {
		return err
	}
	etcd, err := owner.StoreEtcdCredentials()
	if err != nil {
		return err
	}
	cl, err := client.New(c.restConfig, client.Options{Scheme: apis.Scheme()})
	if err != nil {
		return err
	}
	etcdAdmin, etcdCA := stores.EtcdSecrets(etcd)
	for _, s := range []struct {
		name, endpoint string
		driver         fleetv1.BackingStoreDriver
		admin, ca      map[string][]byte
	}{
		{StoreName, owner.PostgresEndpoint(), fleetv1.DriverPostgreSQL, map[string][]byte{
			fleetv1.SecretUsernameKey: []byte(pgserver.AdminUser),
			fleetv1.SecretPasswordKey: []byte(pg.Password),
		}, map[string][]byte{fleetv1.SecretCAKey: pgCA}},
		{EtcdStoreName, owner.StoreEtcdEndpoint(), fleetv1.DriverEtcd, etcdAdmin, etcdCA},
	} {
		if err := c.registerStore(ctx, cl, s.name, s.driver, s.endpoint, s.admin, s.ca); err != nil {
			return fmt.Errorf("%s: BackingStore %s: %w", c.Name, s.name, err)
		}
	}
	return ensureDefaultClass(ctx, cl)
}

// ensureDefaultClass makes the lab's default VirtualClusterClass, as an
// admin would: the safest isolation, and the lab's stores open to every
// vcluster, so that External vclusters work without naming a class.
func ensureDefaultClass(ctx context.Context, cl client.Client) error {
	class := &fleetv1.VirtualClusterClass{ObjectMeta: metav1.ObjectMeta{Name: fleetv1.DefaultClassName}}
	_, err := controllerutil.CreateOrUpdate(ctx, cl, class, func() error {
		class.Spec.Isolation = fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityBaseline}
		class.Spec.AllowedStores = []string{StoreName, EtcdStoreName}
		return nil
	})
	if err != nil {
		return fmt.Errorf("VirtualClusterClass %s: %w", class.Name, err)
	}
	// The class that hands out the lab's real nodes: the same, and its
	// pods may tolerate their taint and choose them by their kind.
	real := &fleetv1.VirtualClusterClass{ObjectMeta: metav1.ObjectMeta{Name: RealNodesClass}}
	if _, err := controllerutil.CreateOrUpdate(ctx, cl, real, func() error {
		real.Spec.Isolation = fleetv1.IsolationPolicy{
			PodSecurity:        fleetv1.PodSecurityBaseline,
			AllowedNodeLabels:  []string{realnode.LabelKind},
			AllowedTolerations: []fleetv1.AllowedToleration{{Key: TaintRealNode, Effect: corev1.TaintEffectNoSchedule}},
		}
		real.Spec.AllowedStores = []string{StoreName, EtcdStoreName}
		return nil
	}); err != nil {
		return fmt.Errorf("VirtualClusterClass %s: %w", real.Name, err)
	}
	return nil
}

// RealNodesClass is the lab's class whose vclusters' pods may run on its
// real nodes.
const RealNodesClass = "real-nodes"

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
