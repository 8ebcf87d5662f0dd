package federation_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/takeover"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/lab/pgserver"
	"github.com/vfleet/vfleet/stores"
	"github.com/vfleet/vfleet/stores/postgres"
	"github.com/vfleet/vfleet/test/framework"
)

// readyTimeout bounds a vcluster's start, or its takeover, on a loaded
// machine: detection (10 s), fencing, and a start of a few seconds.
const readyTimeout = 3 * time.Minute

// createExternal creates a small External vcluster over the lab's
// PostgreSQL in a region, and deletes it after the spec wherever it runs
// then.
func createExternal(ctx context.Context, region, name string) *fleetv1.VirtualCluster {
	vc := &fleetv1.VirtualCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: fleetv1.VirtualClusterSpec{
			KubernetesVersion: k8sbin.Version,
			Resources:         fleetv1.Resources{CPU: resource.MustParse("1"), Memory: resource.MustParse("1Gi"), Pods: 10},
			BackingStore:      fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreExternal, Name: lab.StoreName},
		},
	}
	Expect(mgmt[region].Create(ctx, vc)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		for _, c := range mgmt {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_ = client.IgnoreNotFound(c.Delete(cctx, &fleetv1.VirtualCluster{ObjectMeta: vc.ObjectMeta}))
			cancel()
		}
		waitGone(ctx, client.ObjectKeyFromObject(vc))
	}, NodeTimeout(3*time.Minute))
	return vc
}

// waitGone waits, for a while, until no region that answers has the
// vcluster any more: its control planes have stopped, so that the next
// spec's do not start beside them on the lab's two cores, where a host
// too starved to renew its Lease is failed over. A vcluster still there
// afterwards is only reported: the spec that made it is over.
func waitGone(ctx context.Context, key client.ObjectKey) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		left := []string{}
		for r, c := range mgmt {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := c.Get(cctx, key, &fleetv1.VirtualCluster{})
			cancel()
			if err == nil {
				left = append(left, r)
			}
		}
		if len(left) == 0 || ctx.Err() != nil {
			return
		}
		if time.Now().After(deadline) {
			GinkgoWriter.Printf("vcluster %s is still in %v two minutes after its deletion\n", key, left)
			return
		}
		time.Sleep(time.Second)
	}
}

// running finds the region that runs the vcluster now, and its object
// there: not a copy another region took over, not a mirror. Regions that
// do not answer are passed over.
// While a region is cut off, its copy and the one that took over both look
// running; the later epoch is the live one.
func running(ctx context.Context, key client.ObjectKey) (string, *fleetv1.VirtualCluster) {
	var (
		region string
		found  *fleetv1.VirtualCluster
	)
	for r, c := range mgmt {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		vc := &fleetv1.VirtualCluster{}
		err := c.Get(cctx, key, vc)
		cancel()
		if err == nil && vc.Status.Phase != fleetv1.PhaseElsewhere && vc.Annotations[takeover.AnnotationTakenOverBy] == "" &&
			vc.Status.Epoch > 0 && (found == nil || vc.Status.Epoch > found.Status.Epoch) {
			region, found = r, vc
		}
	}
	return region, found
}

// waitReadyIn waits until the vcluster is Ready in one of regions, past
// epoch, and returns the region and the object.
func waitReadyIn(ctx context.Context, key client.ObjectKey, regions []string, epoch int64) (string, *fleetv1.VirtualCluster) {
	var (
		region string
		vc     *fleetv1.VirtualCluster
	)
	Eventually(func(g Gomega) {
		region, vc = running(ctx, key)
		g.Expect(vc).NotTo(BeNil(), "no region runs %s", key)
		g.Expect(regions).To(ContainElement(region), "%s runs in %s", key, region)
		g.Expect(vc.Status.Epoch).To(BeNumerically(">", epoch), "%s in %s: %s", key, region, describe(vc))
		g.Expect(vc.Status.Phase).To(Equal(fleetv1.PhaseReady), "%s in %s: %s", key, region, describe(vc))
	}).WithContext(ctx).WithTimeout(readyTimeout).WithPolling(250 * time.Millisecond).Should(Succeed())
	return region, vc
}

// describe says where a vcluster stands, shortly: its phase, epoch, host
// and the conditions that are not True.
func describe(vc *fleetv1.VirtualCluster) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s, epoch %d (fenced %d) on %q", vc.Status.Phase, vc.Status.Epoch, vc.Status.FencedEpoch, vc.Status.Host)
	for _, c := range vc.Status.Conditions {
		if c.Status != metav1.ConditionTrue {
			fmt.Fprintf(&b, "; %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	return b.String()
}

// newWriter writes into the vcluster wherever it runs, through the
// kubeconfig its region's hub issues.
func newWriter(key client.ObjectKey) *framework.Writer {
	return &framework.Writer{Kubeconfig: func(ctx context.Context) []byte {
		region, vc := running(ctx, key)
		if vc == nil {
			return nil
		}
		secret := &corev1.Secret{}
		if err := mgmt[region].Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: virtualcluster.KubeconfigSecretName(vc)}, secret); err != nil {
			return nil
		}
		return secret.Data[fleetv1.KubeconfigKey]
	}}
}

// storeConn is an admin session on the vcluster's database, on the
// PostgreSQL server the first region runs for all.
func storeConn(ctx context.Context, vc *fleetv1.VirtualCluster) *pgx.Conn {
	m := fed.Regions()[0].Management()
	conn, err := pgx.Connect(ctx, postgres.URL(m.PostgresEndpoint(), storeSpace(vc), pgserver.AdminUser, m.PostgresPassword(), ""))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) { _ = conn.Close(ctx) })
	return conn
}

// recordWriters makes each row of the vcluster's kine table say which
// login wrote it: the epochs' roles act as the database's owner, but the
// session user stays theirs.
func recordWriters(ctx context.Context, vc *fleetv1.VirtualCluster) {
	_, err := storeConn(ctx, vc).Exec(ctx, "ALTER TABLE kine ADD COLUMN writer name DEFAULT session_user")
	Expect(err).NotTo(HaveOccurred())
}

// expectFenced checks, on the store itself, that the vcluster's epoch can
// no longer log in.
func expectFenced(ctx context.Context, vc *fleetv1.VirtualCluster) {
	conn := storeConn(ctx, vc)
	space := storeSpace(vc)
	var canLogin bool
	role := postgres.EpochRole(space, vc.Status.Epoch)
	Expect(conn.QueryRow(ctx, "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", role).Scan(&canLogin)).To(Succeed())
	Expect(canLogin).To(BeFalse(), fmt.Sprintf("the fenced epoch's role %s still logs in", role))
}

func storeSpace(vc *fleetv1.VirtualCluster) string {
	return stores.Space(fleetv1.DriverPostgreSQL, vc.StoreUID())
}
