package failover_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/controlplane/launch"
	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/lab/pgserver"
	"github.com/vfleet/vfleet/stores"
	"github.com/vfleet/vfleet/stores/etcdstore"
	"github.com/vfleet/vfleet/stores/postgres"
	"github.com/vfleet/vfleet/test/framework"
)

// readyTimeout bounds a failover with margin: the 15 s delay, a start of
// a few seconds, and a loaded machine.
const readyTimeout = 2 * time.Minute

// createVCluster creates a small vcluster in default and waits until it is
// Ready.
func createVCluster(ctx context.Context, name string, store fleetv1.VirtualClusterStore) *fleetv1.VirtualCluster {
	return createSized(ctx, name, store, fleetv1.Resources{CPU: resource.MustParse("1"), Memory: resource.MustParse("1Gi"), Pods: 20})
}

func createSized(ctx context.Context, name string, store fleetv1.VirtualClusterStore, res fleetv1.Resources) *fleetv1.VirtualCluster {
	return create(ctx, &fleetv1.VirtualCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: fleetv1.VirtualClusterSpec{
			KubernetesVersion: k8sbin.Version,
			Resources:         res,
			BackingStore:      store,
		},
	})
}

// create creates vc, deletes it when the spec ends, and waits until it is
// Ready.
func create(ctx context.Context, vc *fleetv1.VirtualCluster) *fleetv1.VirtualCluster {
	Expect(suite.Mgmt.Create(ctx, vc)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(suite.Mgmt.Delete(ctx, vc))).To(Succeed())
		Eventually(func() error { return suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(vc), vc) }).
			WithContext(ctx).WithTimeout(2 * time.Minute).Should(MatchError(ContainSubstring("not found")))
	}, NodeTimeout(3*time.Minute))
	return framework.WaitForVClusterReady(ctx, suite.Mgmt, client.ObjectKeyFromObject(vc), readyTimeout)
}

var external = fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreExternal, Name: lab.StoreName}

// waitMoved waits until the vcluster is Ready at an epoch past from's, on
// another host.
func waitMoved(ctx context.Context, from *fleetv1.VirtualCluster) *fleetv1.VirtualCluster {
	vc := &fleetv1.VirtualCluster{}
	Eventually(func(g Gomega) {
		g.Expect(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(from), vc)).To(Succeed())
		g.Expect(vc.Status.Epoch).To(BeNumerically(">", from.Status.Epoch))
		g.Expect(vc.Status.Host).NotTo(Equal(from.Status.Host))
		g.Expect(vc.Status.Phase).To(Equal(fleetv1.PhaseReady), "conditions: %v", vc.Status.Conditions)
	}).WithContext(ctx).WithTimeout(readyTimeout).WithPolling(200 * time.Millisecond).Should(Succeed())
	return vc
}

// newWriter writes into vc through the kubeconfig the hub issues.
func newWriter(vc *fleetv1.VirtualCluster) *framework.Writer {
	return &framework.Writer{Kubeconfig: func(ctx context.Context) []byte {
		secret := &corev1.Secret{}
		if err := suite.Mgmt.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: virtualcluster.KubeconfigSecretName(vc)}, secret); err != nil {
			return nil
		}
		return secret.Data[fleetv1.KubeconfigKey]
	}}
}

// expectAllThere checks that every acknowledged write is in the vcluster.
func expectAllThere(ctx context.Context, vc *fleetv1.VirtualCluster, acked []string) {
	framework.ExpectAllThere(ctx, framework.VClusterConfig(ctx, suite.Mgmt, vc), acked)
}

// controlPlanePids are the vcluster control planes running on a host.
func controlPlanePids(host string) []int { return suite.Lab.Host(host).ControlPlanePids() }

// signalControlPlanes sends sig to every control plane of a host.
func signalControlPlanes(host string, sig syscall.Signal) {
	for _, pid := range controlPlanePids(host) {
		Expect(procgroup.SignalGroup(pid, sig)).To(Succeed())
	}
}

// storeConn is an admin session on the vcluster's database.
func storeConn(ctx context.Context, vc *fleetv1.VirtualCluster) *pgx.Conn {
	m := suite.Lab.Management()
	conn, err := pgx.Connect(ctx, postgres.URL(m.PostgresEndpoint(), stores.Space(fleetv1.DriverPostgreSQL, vc.UID), pgserver.AdminUser, m.PostgresPassword(), ""))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) { _ = conn.Close(ctx) })
	return conn
}

// expectFenced checks, on the store itself, that the vcluster's epoch (the
// one it had before it moved) can no longer log in.
func expectFenced(ctx context.Context, vc *fleetv1.VirtualCluster, store string) {
	m := suite.Lab.Management()
	switch store {
	case lab.StoreName:
		conn := storeConn(ctx, vc)
		var canLogin bool
		Expect(conn.QueryRow(ctx, "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1",
			postgres.EpochRole(stores.Space(fleetv1.DriverPostgreSQL, vc.UID), vc.Status.Epoch)).Scan(&canLogin)).To(Succeed())
		Expect(canLogin).To(BeFalse(), "the fenced epoch's role still logs in")
	case lab.EtcdStoreName:
		creds, err := m.StoreEtcdCredentials()
		Expect(err).NotTo(HaveOccurred())
		root, err := creds.Client(m.StoreEtcdEndpoint())
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = root.Close() }()
		users, err := root.UserList(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(users.Users).NotTo(ContainElement(etcdstore.EpochUser(stores.Space(fleetv1.DriverEtcd, vc.UID), vc.Status.Epoch)),
			"the fenced epoch's user is still there")
	default:
		Fail("no fencing check for store " + store)
	}
}

// controlPlaneGone waits until the ControlPlane of the vcluster on host is
// gone, which the host's agent allows only once it has removed the
// processes, the data and the host namespace.
func controlPlaneGone(ctx context.Context, vc *fleetv1.VirtualCluster, host string) {
	Eventually(func(g Gomega) {
		err := suite.Mgmt.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(host), Name: virtualcluster.ControlPlaneName(vc)}, &fleetv1.ControlPlane{})
		g.Expect(err).To(MatchError(ContainSubstring("not found")))
		g.Expect(controlPlanePids(host)).To(BeEmpty())
	}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
}

// expectNoCredentialsInEnvironment checks that the kube-apiserver and
// kube-controller-manager of host's control planes do not hold the store's
// credentials in their environment, where anything that may read
// /proc/<pid>/environ would find them. Only vfleet controlplane, which runs
// kine, needs them.
func expectNoCredentialsInEnvironment(host string) {
	By("the store's credentials are in the environment of neither the apiserver nor the controller-manager on " + host)
	var procs []int
	for _, pid := range controlPlanePids(host) {
		procs = append(procs, processTree(pid)[1:]...)
	}
	// The apiserver and the controller-manager at least: a check of fewer
	// would pass for want of looking.
	Expect(len(procs)).To(BeNumerically(">=", 2), "control-plane children on %s: %v", host, procs)
	for _, pid := range procs {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		Expect(err).NotTo(HaveOccurred())
		for _, kv := range strings.Split(string(env), "\x00") {
			Expect(kv).NotTo(HavePrefix(launch.BackendEnv+"="), "process %d", pid)
		}
	}
}

// processTree is pid and every process below it. A process's children
// are listed per thread that forked them, and Go forks from any.
func processTree(pid int) []int {
	out := []int{pid}
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, file := range files {
		data, _ := os.ReadFile(file)
		for _, f := range strings.Fields(string(data)) {
			if child, err := strconv.Atoi(f); err == nil {
				out = append(out, processTree(child)...)
			}
		}
	}
	return out
}

// asking is a client that lists namespaces through a kubeconfig every
// 200 ms, as a tenant's tooling would, and keeps what went wrong.
type asking struct {
	stop   context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	errs   []error
	served int
	// last is when the latest answer came.
	last time.Time
}

func startAsking(ctx context.Context, cfg *rest.Config) *asking {
	actx, stop := context.WithCancel(ctx)
	a := &asking{stop: stop, done: make(chan struct{})}
	DeferCleanup(stop)
	kube := kubernetes.NewForConfigOrDie(rest.CopyConfig(cfg))
	go func() {
		defer close(a.done)
		for actx.Err() == nil {
			_, err := kube.CoreV1().Namespaces().List(actx, metav1.ListOptions{})
			a.mu.Lock()
			if err != nil && actx.Err() == nil {
				a.errs = append(a.errs, fmt.Errorf("%s: %w", time.Now().Format("15:04:05.000"), err))
			} else if err == nil {
				a.served++
				a.last = time.Now()
			}
			a.mu.Unlock()
			select {
			case <-actx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return a
}

// expectOnlyRetries stops the client and checks that what failed was the
// move (a connection cut, held or refused), never its credentials: no
// 401, no 403, no certificate the client does not trust.
func (a *asking) expectOnlyRetries() {
	now := time.Now()
	Eventually(func() time.Time {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.last
	}).WithTimeout(time.Minute).Should(BeTemporally(">", now), "the client asking through the gateway is answered again")
	a.stop()
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	GinkgoWriter.Printf("a client asking through the gateway: %d answers, %d errors\n", a.served, len(a.errs))
	for _, err := range a.errs {
		GinkgoWriter.Printf("  %v\n", err)
		Expect(apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err)).To(BeFalse(), "a credential error through the gateway: %v", err)
		Expect(err.Error()).NotTo(ContainSubstring("x509"), "a certificate error through the gateway")
		Expect(err.Error()).NotTo(ContainSubstring("unrecognized name"), "the gateway lost the vcluster's name")
	}
}
