package failover_test

import (
	"context"
	"fmt"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	vcnames "github.com/vfleet/vfleet/internal/names"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/stores"
	"github.com/vfleet/vfleet/stores/postgres"
	"github.com/vfleet/vfleet/test/framework"
)

var _ = Describe("Failover", Ordered, func() {
	for _, store := range []struct{ name, vcluster string }{{lab.StoreName, "rpo"}, {lab.EtcdStoreName, "rpo-etcd"}} {
		It("brings a vcluster whose host is killed back on another host with every acknowledged write ("+store.name+")", func(ctx SpecContext) {
			vc := createVCluster(ctx, store.vcluster, fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreExternal, Name: store.name})
			lost := vc.Status.Host
			expectNoCredentialsInEnvironment(lost)
			w := newWriter(vc)
			wctx, stop := context.WithCancel(ctx)
			defer stop()
			go w.Run(wctx)
			kube, _ := framework.VClusterClients(framework.VClusterConfig(ctx, suite.Mgmt, vc))
			framework.CreateDeployment(ctx, framework.CreateDeploymentInput{Client: kube, Namespace: "default", Name: "web", Replicas: 2})
			framework.WaitForRunningPods(ctx, framework.WaitForRunningPodsInput{Client: kube, Namespace: "default", Selector: "app=web", Count: 2})
			Eventually(w.Since).WithTimeout(30 * time.Second).Should(BeNumerically(">=", 20))
			// What a tenant holds before the move: the admin kubeconfig
			// and a service account's token.
			saved := framework.VClusterConfig(ctx, suite.Mgmt, vc)
			_, err := kube.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
			token, err := kube.CoreV1().ServiceAccounts("default").CreateToken(ctx, "robot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
			Expect(saved.Host).To(Equal("https://"+suite.Lab.Management().GatewayAddress()), "the kubeconfig names the region's gateway")
			// A client that keeps asking through the gateway across the move.
			asking := startAsking(ctx, saved)

			By("SIGKILL every process of host " + lost + ": its cluster, its agent and its control planes")
			Expect(suite.Lab.Host(lost).Kill()).To(Succeed())
			moved := waitMoved(ctx, vc)
			Expect(moved.Status.PlacementHistory).To(ContainElement(And(
				HaveField("Host", moved.Status.Host), HaveField("Epoch", moved.Status.Epoch), HaveField("Reason", fleetv1.PlacementFailover))))
			Expect(moved.Status.FencedEpoch).To(Equal(vc.Status.Epoch))
			expectFenced(ctx, vc, store.name)
			suite.ExpectTrace(ctx, moved, "VirtualCluster Failover", map[string]string{
				"Fence": "vfleet-hub", "Place": "vfleet-hub", "Provision store": "vfleet-hub",
				"Start control plane": "vfleet-agent", "Start apiserver": "vfleet-controlplane",
			})

			By("the kubeconfig saved before the move works after it, unchanged: same gateway, same identity")
			now := framework.VClusterConfig(ctx, suite.Mgmt, moved)
			Expect(now.Host).To(Equal(saved.Host), "the endpoint")
			Expect(now.CAData).To(Equal(saved.CAData), "the vcluster's CA")
			Expect(now.CertData).To(Equal(saved.CertData), "the admin's certificate")
			Eventually(func() error {
				_, err := kubernetes.NewForConfigOrDie(saved).CoreV1().ServiceAccounts("default").Get(ctx, "robot", metav1.GetOptions{})
				return err
			}).WithContext(ctx).WithTimeout(30*time.Second).Should(Succeed(), "the kubeconfig saved before the failover")
			asking.expectOnlyRetries()
			robot := rest.AnonymousClientConfig(saved)
			robot.BearerToken = token.Status.Token
			_, err = kubernetes.NewForConfigOrDie(robot).CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the service account's token from before the failover is authenticated (and has no role): %v", err)

			By("the writer goes on against the new host")
			w.Mark()
			Eventually(w.Since).WithTimeout(time.Minute).Should(BeNumerically(">=", 10))
			stop()
			expectAllThere(ctx, moved, w.All())

			By("the tenant's pods run again, on nodes of the new host")
			kube, _ = framework.VClusterClients(framework.VClusterConfig(ctx, suite.Mgmt, moved))
			framework.WaitForRunningPods(ctx, framework.WaitForRunningPodsInput{Client: kube, Namespace: "default", Selector: "app=web", Count: 2, Timeout: 2 * time.Minute})
			Eventually(func(g Gomega) {
				pods, err := kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
				g.Expect(err).NotTo(HaveOccurred())
				for _, p := range pods.Items {
					g.Expect(p.Spec.NodeName).To(HavePrefix(moved.Status.Host+"-node-"), "pod %s", p.Name)
				}
			}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())

			By("host " + lost + " comes back and tears down its control plane of the stale epoch")
			Expect(suite.Lab.Host(lost).Start(ctx)).To(Succeed())
			controlPlaneGone(ctx, vc, lost)
			hostKube, err := suite.Lab.Host(lost).Client()
			Expect(err).NotTo(HaveOccurred())
			Eventually(func() ([]corev1.Namespace, error) {
				l, err := hostKube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: fleetv1.LabelVirtualClusterUID + "=" + string(vc.UID)})
				return l.Items, err
			}).WithContext(ctx).WithTimeout(time.Minute).Should(BeEmpty())
		}, NodeTimeout(8*time.Minute))
	}

	It("fences a partitioned control plane: none of its writes lands once the next epoch has begun", func(ctx SpecContext) {
		vc := createVCluster(ctx, "partition", external)
		old := vc.Status.Host
		conn := storeConn(ctx, vc)
		// Each row says which login wrote it: the epochs' roles act as
		// the database's owner, but the session user stays theirs.
		_, err := conn.Exec(ctx, "ALTER TABLE kine ADD COLUMN writer name DEFAULT session_user")
		Expect(err).NotTo(HaveOccurred())
		saved := framework.VClusterConfig(ctx, suite.Mgmt, vc)
		tenantKube, _ := framework.VClusterClients(saved)
		_, err = tenantKube.CoreV1().ConfigMaps("default").Create(ctx, configMap("before-partition"), metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		// The old epoch's apiserver itself, past the gateway: what a
		// client on its host could still reach.
		Expect(vc.Status.Gateway).NotTo(BeNil())
		direct := rest.CopyConfig(saved)
		direct.Host = "https://" + vc.Status.Gateway.Address
		oldKube, _ := framework.VClusterClients(direct)

		By("SIGSTOP the agent and the control planes of host " + old + " past the failover delay")
		h := suite.Lab.Host(old)
		Expect(h.Pause(lab.Agent)).To(Succeed())
		signalControlPlanes(old, syscall.SIGSTOP)
		resumed := false
		resume := func() {
			if !resumed {
				resumed = true
				signalControlPlanes(old, syscall.SIGCONT)
				Expect(h.Resume(lab.Agent)).To(Succeed())
			}
		}
		DeferCleanup(resume)
		moved := waitMoved(ctx, vc)
		newKube, _ := framework.VClusterClients(framework.VClusterConfig(ctx, suite.Mgmt, moved))
		_, err = newKube.CoreV1().ConfigMaps("default").Create(ctx, configMap("after-failover"), metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())

		By("SIGCONT: the old control plane's writes are refused, and it is torn down")
		resume()
		// Through the gateway, the tenant reaches the new epoch only.
		for i := range 5 {
			_, err := tenantKube.CoreV1().ConfigMaps("default").Create(ctx, configMap(fmt.Sprintf("through-gateway-%d", i)), metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
		}
		tried := 0
		Consistently(func() error {
			tried++
			_, err := oldKube.CoreV1().ConfigMaps("default").Create(ctx, configMap("from-old-epoch-"+time.Now().Format("150405.000")), metav1.CreateOptions{})
			return err
		}).WithContext(ctx).WithTimeout(5 * time.Second).WithPolling(500 * time.Millisecond).Should(HaveOccurred())
		controlPlaneGone(ctx, vc, old)

		By("in the database: nothing written by epoch N after epoch N+1's first write")
		e1 := postgres.EpochRole(stores.Space(fleetv1.DriverPostgreSQL, vc.UID), vc.Status.Epoch)
		e2 := postgres.EpochRole(stores.Space(fleetv1.DriverPostgreSQL, vc.UID), moved.Status.Epoch)
		var n1, n2, late int
		Expect(conn.QueryRow(ctx, "SELECT count(*) FILTER (WHERE writer = $1), count(*) FILTER (WHERE writer = $2) FROM kine", e1, e2).Scan(&n1, &n2)).To(Succeed())
		Expect(n1).To(BeNumerically(">", 0), "epoch %d wrote nothing: the check below would prove nothing", vc.Status.Epoch)
		Expect(n2).To(BeNumerically(">", 0))
		Expect(conn.QueryRow(ctx, "SELECT count(*) FROM kine WHERE writer = $1 AND id > (SELECT min(id) FROM kine WHERE writer = $2)", e1, e2).Scan(&late)).To(Succeed())
		Expect(late).To(BeZero(), "rows written by fenced epoch %d after epoch %d began", vc.Status.Epoch, moved.Status.Epoch)
		var names, throughGateway int
		Expect(conn.QueryRow(ctx, "SELECT count(*) FROM kine WHERE name LIKE '%from-old-epoch-%'").Scan(&names)).To(Succeed())
		Expect(names).To(BeZero())
		Expect(conn.QueryRow(ctx, "SELECT count(*) FROM kine WHERE name LIKE '%through-gateway-%' AND writer <> $1", e2).Scan(&throughGateway)).To(Succeed())
		Expect(throughGateway).To(BeZero(), "writes through the gateway after the move reached another epoch than %d", moved.Status.Epoch)
		expectAllThere(ctx, moved, []string{"before-partition", "after-failover"})
	}, NodeTimeout(8*time.Minute))

	It("migrates a vcluster to a named host with its data, and reports the downtime", func(ctx SpecContext) {
		vc := createVCluster(ctx, "migrate", external)
		saved := framework.VClusterConfig(ctx, suite.Mgmt, vc)
		kube, _ := framework.VClusterClients(saved)
		names := writeSome(ctx, kube, 20)
		asking := startAsking(ctx, saved)
		to := otherHost(vc.Status.Host)
		s := vfleet("migrate", vc.Name, "--to", to)
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say("moved from host " + vc.Status.Host + " to host " + to))
		Expect(s.Out).To(gbytes.Say(`API unavailable for \d`))
		moved := waitMoved(ctx, vc)
		Expect(moved.Status.Host).To(Equal(to))
		Expect(moved.Status.PlacementHistory[len(moved.Status.PlacementHistory)-1].Reason).To(Equal(fleetv1.PlacementMigration))
		// Through the kubeconfig saved before the move, unchanged.
		framework.ExpectAllThere(ctx, saved, names)
		asking.expectOnlyRetries()
		suite.ExpectTrace(ctx, moved, "VirtualCluster Migration", map[string]string{
			"Fence": "vfleet-hub", "Place": "vfleet-hub", "Start control plane": "vfleet-agent", "Start apiserver": "vfleet-controlplane",
		})
		controlPlaneGone(ctx, vc, vc.Status.Host)
	}, NodeTimeout(5*time.Minute))

	It("refuses through the gateway a name no vcluster has, and a deleted vcluster's at once", func(ctx SpecContext) {
		vc := createVCluster(ctx, "named", fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreEmbedded})
		cfg := framework.VClusterConfig(ctx, suite.Mgmt, vc)
		Expect(cfg.ServerName).To(Equal("named.default.vclusters.vfleet.internal"))
		list := func(cfg *rest.Config) error {
			kube, err := kubernetes.NewForConfig(cfg)
			Expect(err).NotTo(HaveOccurred())
			_, err = kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			return err
		}
		Expect(list(cfg)).To(Succeed())
		for _, name := range []string{"other.default.vclusters.vfleet.internal", "named.other.vclusters.vfleet.internal", "named.default.vclusters.vfleet.internal.evil"} {
			wrong := rest.CopyConfig(cfg)
			wrong.ServerName = name
			Expect(list(wrong)).To(MatchError(ContainSubstring("tls: unrecognized name")), "server name %s", name)
		}

		By("deleting the vcluster: its name is unknown to the gateway, not held")
		Expect(suite.Mgmt.Delete(ctx, vc)).To(Succeed())
		Eventually(func() error { return list(cfg) }).WithContext(ctx).WithTimeout(30 * time.Second).
			Should(MatchError(ContainSubstring("tls: unrecognized name")))
	}, NodeTimeout(4*time.Minute))

	It("replaces a vcluster's identity when asked, and only then: what was issued before is refused", func(ctx SpecContext) {
		vc := createVCluster(ctx, "rotated", fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreEmbedded})
		before := framework.VClusterConfig(ctx, suite.Mgmt, vc)
		kube, _ := framework.VClusterClients(before)
		_, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())

		s := vfleet("certs", "rotate", vc.Name)
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say("new identity"))
		after := framework.VClusterConfig(ctx, suite.Mgmt, vc)
		Expect(after.CAData).NotTo(Equal(before.CAData), "a new CA")
		Expect(after.Host).To(Equal(before.Host), "the same endpoint: the gateway's")
		kube, _ = framework.VClusterClients(after)
		Eventually(func() error {
			_, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			return err
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed(), "the new kubeconfig")
		old, _ := framework.VClusterClients(before)
		_, err = old.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		Expect(err).To(MatchError(ContainSubstring("x509")), "the kubeconfig from before the rotation no longer trusts the vcluster")
	}, NodeTimeout(4*time.Minute))

	It("puts a vcluster to sleep, with nothing of it running, and wakes it with its objects and pods", func(ctx SpecContext) {
		vc := createVCluster(ctx, "sleepy", external)
		host := vc.Status.Host
		saved := framework.VClusterConfig(ctx, suite.Mgmt, vc)
		kube, _ := framework.VClusterClients(saved)
		framework.CreateDeployment(ctx, framework.CreateDeploymentInput{Client: kube, Namespace: "default", Name: "web", Replicas: 2})
		framework.WaitForRunningPods(ctx, framework.WaitForRunningPodsInput{Client: kube, Namespace: "default", Selector: "app=web", Count: 2})
		names := writeSome(ctx, kube, 5)
		hostKube, err := suite.Lab.Host(host).Client()
		Expect(err).NotTo(HaveOccurred())
		hostNS := vcnames.VClusterNamespace(vc.Namespace, vc.Name)
		tenantPods := func() ([]corev1.Pod, error) {
			l, err := hostKube.CoreV1().Pods(hostNS).List(ctx, metav1.ListOptions{LabelSelector: fleetv1.LabelVirtualClusterUID + "=" + string(vc.UID)})
			return l.Items, err
		}
		Eventually(tenantPods).WithContext(ctx).WithTimeout(time.Minute).Should(HaveLen(2))
		running := len(controlPlanePids(host))

		s := vfleet("sleep", vc.Name)
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say("asleep"))
		asleep := &fleetv1.VirtualCluster{}
		Expect(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(vc), asleep)).To(Succeed())
		Expect(asleep.Status.Sleep).NotTo(BeNil())
		Expect(asleep.Status.Sleep.Reason).To(Equal(fleetv1.SleepAsked))
		list := vfleet("list")
		Expect(list).To(gexec.Exit(0))
		Expect(list.Out).To(gbytes.Say(`sleepy\s+Sleeping for \d+s\s`))
		Eventually(func() []int { return controlPlanePids(host) }).WithContext(ctx).WithTimeout(time.Minute).Should(HaveLen(running-1), "its control plane's process")
		Eventually(tenantPods).WithContext(ctx).WithTimeout(time.Minute).Should(BeEmpty(), "its pods on the host")

		s = vfleet("wake", vc.Name)
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say("awake on host"))
		// Through the kubeconfig from before, unchanged: its objects, and
		// its pods running on the host again.
		framework.ExpectAllThere(ctx, saved, names)
		Eventually(func(g Gomega) {
			pods, err := tenantPods()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods).To(HaveLen(2))
			for _, p := range pods {
				g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "host pod %s", p.Name)
			}
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
	}, NodeTimeout(6*time.Minute))

	It("puts an unused vcluster to sleep, and a request through the gateway wakes it and is answered", func(ctx SpecContext) {
		vc := createVCluster(ctx, "idle", fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreEmbedded})
		host := vc.Status.Host
		saved := framework.VClusterConfig(ctx, suite.Mgmt, vc)
		// An open connection is use, as a watch is: this client lets go
		// of its own once done, as a kubectl that exits does.
		hc, err := rest.HTTPClientFor(saved)
		Expect(err).NotTo(HaveOccurred())
		kube, err := kubernetes.NewForConfigAndClient(saved, hc)
		Expect(err).NotTo(HaveOccurred())
		framework.CreateDeployment(ctx, framework.CreateDeploymentInput{Client: kube, Namespace: "default", Name: "web", Replicas: 1})
		framework.WaitForRunningPods(ctx, framework.WaitForRunningPodsInput{Client: kube, Namespace: "default", Selector: "app=web", Count: 1})
		hc.CloseIdleConnections()
		hostKube, err := suite.Lab.Host(host).Client()
		Expect(err).NotTo(HaveOccurred())
		tenantPods := func() ([]corev1.Pod, error) {
			l, err := hostKube.CoreV1().Pods(vcnames.VClusterNamespace(vc.Namespace, vc.Name)).List(ctx, metav1.ListOptions{LabelSelector: fleetv1.LabelVirtualClusterUID + "=" + string(vc.UID)})
			return l.Items, err
		}
		Eventually(tenantPods).WithContext(ctx).WithTimeout(time.Minute).Should(HaveLen(1))
		running := len(controlPlanePids(host))

		By("no request and no open connection for 30s: it goes to sleep")
		Expect(suite.Mgmt.Patch(ctx, vc, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"sleep":{"afterInactivity":"30s"}}}`)))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(vc), vc)).To(Succeed())
			g.Expect(vc.Status.Phase).To(Equal(fleetv1.PhaseSleeping))
			g.Expect(vc.Status.Sleep).NotTo(BeNil())
			g.Expect(vc.Status.Sleep.Reason).To(Equal(fleetv1.SleepInactive))
		}).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
		Eventually(func() []int { return controlPlanePids(host) }).WithContext(ctx).WithTimeout(time.Minute).Should(HaveLen(running-1), "its control plane's process")
		Eventually(tenantPods).WithContext(ctx).WithTimeout(time.Minute).Should(BeEmpty(), "its pods on the host")

		By("kubectl get pods through the gateway, with the kubeconfig from before: held, woken, answered")
		start := time.Now()
		woken, _ := framework.VClusterClients(saved)
		pods, err := woken.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		Expect(err).NotTo(HaveOccurred(), "the first request to a sleeping vcluster")
		GinkgoWriter.Printf("the first request to the sleeping vcluster was answered in %s\n", time.Since(start).Round(10*time.Millisecond))
		Expect(pods.Items).To(HaveLen(1))
		Eventually(func(g Gomega) {
			pods, err := tenantPods()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods).To(HaveLen(1))
			g.Expect(pods[0].Status.Phase).To(Equal(corev1.PodRunning))
		}).WithContext(ctx).WithTimeout(2*time.Minute).Should(Succeed(), "the Deployment's pod runs on the host again")
	}, NodeTimeout(6*time.Minute))

	It("drains a host: cordons it and moves every vcluster off", func(ctx SpecContext) {
		vc := createVCluster(ctx, "drain", external)
		host := vc.Status.Host
		DeferCleanup(func(ctx SpecContext) { setCordon(ctx, host, false) })
		s := vfleet("drain", host)
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say("drained"))
		moved := waitMoved(ctx, vc)
		Expect(moved.Status.PlacementHistory[len(moved.Status.PlacementHistory)-1].Reason).To(Equal(fleetv1.PlacementDrain))
		hc := &fleetv1.HostCluster{}
		Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Name: host}, hc)).To(Succeed())
		Expect(hc.Spec.Unschedulable).To(BeTrue())
		var all fleetv1.VirtualClusterList
		Expect(suite.Mgmt.List(ctx, &all)).To(Succeed())
		for _, v := range all.Items {
			Expect(v.Status.Host).NotTo(Equal(host), "vcluster %s is still on the drained host", v.Name)
		}
	}, NodeTimeout(5*time.Minute))

	Context("refuses, with a reason, operations that cannot succeed", func() {
		It("does not fail over an Embedded vcluster", func(ctx SpecContext) {
			vc := createVCluster(ctx, "embedded", fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreEmbedded})
			s := vfleet("failover", vc.Name)
			Expect(s).To(gexec.Exit(1))
			Expect(s.Err).To(gbytes.Say("keeps its state in SQLite"))
			c := framework.Condition(vc, fleetv1.ConditionFailover)
			Expect(c).NotTo(BeNil())
			Expect(c.Reason).To(Equal(fleetv1.ReasonEmbeddedStore))
		}, NodeTimeout(3*time.Minute))

		It("does not migrate to an unknown host, nor to a full one, and stops nothing for it", func(ctx SpecContext) {
			big := fleetv1.Resources{CPU: resource.MustParse("7"), Memory: resource.MustParse("1Gi"), Pods: 20}
			vc := createSized(ctx, "nowhere", external, big)
			s := vfleet("migrate", vc.Name, "--to", "no-such-host")
			Expect(s).To(gexec.Exit(1))
			Expect(s.Err).To(gbytes.Say("host no-such-host is not in the fleet"))

			// Hosts have 8 CPUs: a second vcluster of 7 fills another.
			filler := createSized(ctx, "filler", fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreEmbedded}, big)
			full := filler.Status.Host
			Expect(full).NotTo(Equal(vc.Status.Host))
			s = vfleet("migrate", vc.Name, "--to", full)
			Expect(s).To(gexec.Exit(1))
			Expect(s.Err).To(gbytes.Say("host " + full + " cannot take the vcluster: .*insufficient cpu"))
			same := &fleetv1.VirtualCluster{}
			Expect(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(vc), same)).To(Succeed())
			Expect(same.Status.Epoch).To(Equal(vc.Status.Epoch))
			Expect(same.Status.Phase).To(Equal(fleetv1.PhaseReady))
			Expect(same.Status.Operation).NotTo(BeNil())
			Expect(same.Status.Operation.Phase).To(Equal(fleetv1.OperationFailed))
		}, NodeTimeout(4*time.Minute))

		It("does not fail over while the backing store is down", func(ctx SpecContext) {
			vc := createVCluster(ctx, "storedown", external)
			m := suite.Lab.Management()
			Expect(m.Stop(ctx, lab.Postgres)).To(Succeed())
			DeferCleanup(func(ctx SpecContext) { Expect(m.Start(ctx)).To(Succeed()) })
			s := vfleet("failover", vc.Name)
			Expect(s).To(gexec.Exit(1))
			Expect(s.Err).To(gbytes.Say("backing store " + lab.StoreName + " is not ready .*could not be fenced"))
			same := &fleetv1.VirtualCluster{}
			Expect(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(vc), same)).To(Succeed())
			Expect(same.Status.Epoch).To(Equal(vc.Status.Epoch))
			Expect(same.Status.FencedEpoch).To(BeZero())
		}, NodeTimeout(5*time.Minute))
	})
})

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}
}

func writeSome(ctx context.Context, kube kubernetes.Interface, n int) []string {
	var names []string
	for i := range n {
		cm := configMap(fmt.Sprintf("data-%02d", i))
		_, err := kube.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		names = append(names, cm.Name)
	}
	return names
}

// otherHost is a schedulable host other than host.
func otherHost(host string) string {
	for _, h := range suite.Lab.Hosts() {
		hc := &fleetv1.HostCluster{}
		Expect(suite.Mgmt.Get(context.Background(), client.ObjectKey{Name: h.Name}, hc)).To(Succeed())
		if h.Name != host && !hc.Spec.Unschedulable && meta.IsStatusConditionTrue(hc.Status.Conditions, fleetv1.ConditionReady) {
			return h.Name
		}
	}
	Fail("no other schedulable host")
	return ""
}

func setCordon(ctx context.Context, host string, on bool) {
	hc := &fleetv1.HostCluster{}
	Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Name: host}, hc)).To(Succeed())
	before := hc.DeepCopy()
	hc.Spec.Unschedulable = on
	Expect(suite.Mgmt.Patch(ctx, hc, client.MergeFrom(before))).To(Succeed())
}
