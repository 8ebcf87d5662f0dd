package fleet_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/hub"
	"github.com/vfleet/vfleet/join"
	"github.com/vfleet/vfleet/test/builder"
)

// agentClient authenticates as host's agent, with the credentials the
// agent itself stored when it joined.
func agentClient(host string) client.Client {
	dir := filepath.Join(suite.Lab.Dir(), host, "agent", "hub")
	server, err := os.ReadFile(filepath.Join(dir, "server"))
	Expect(err).NotTo(HaveOccurred())
	c, err := client.New(&rest.Config{
		Host:            strings.TrimSpace(string(server)),
		BearerTokenFile: filepath.Join(dir, "token"),
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(dir, "ca.crt")},
	}, client.Options{Scheme: apis.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	return c
}

var _ = Describe("An agent's credentials", func() {
	It("reach its own host and nothing of another: the API server answers 403", func(ctx SpecContext) {
		self, other := suite.Lab.Hosts()[0].Name, suite.Lab.Hosts()[1].Name
		agent := agentClient(self)

		Expect(agent.Get(ctx, client.ObjectKey{Name: self}, &fleetv1.HostCluster{})).To(Succeed())
		Expect(agent.List(ctx, &corev1.SecretList{}, client.InNamespace(fleetv1.HostNamespace(self)))).To(Succeed())

		err := agent.List(ctx, &corev1.SecretList{}, client.InNamespace(fleetv1.HostNamespace(other)))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "list another host's secrets: %v", err)
		err = agent.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(other), Name: fleetv1.AgentLeaseName}, &corev1.ConfigMap{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "read in another host's namespace: %v", err)

		target := &fleetv1.HostCluster{}
		Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Name: other}, target)).To(Succeed())
		err = agent.Status().Patch(ctx, target, client.RawPatch("application/merge-patch+json", []byte(`{"status":{"nodes":1000}}`)))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "write another host's status: %v", err)
		err = agent.Delete(ctx, target)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "delete another host: %v", err)
	})
})

var _ = Describe("Bad input", func() {
	It("refuses an agent with a wrong bootstrap token, saying what to do, and registers nothing", func(ctx SpecContext) {
		host := suite.Lab.Hosts()[2]
		cmd := exec.Command(suite.VfleetBin, "agent",
			"--host-kubeconfig", host.Kubeconfig(),
			"--hub", suite.Lab.HubURL(),
			"--hub-ca-file", filepath.Join(suite.Lab.Dir(), "management", "pki", "ca.crt"),
			"--bootstrap-token", "abcdef.0123456789abcdef",
			"--host-name", "intruder", "--region", "region-a",
			"--data-dir", GinkgoT().TempDir(),
			"--health-probe-bind-address", "127.0.0.1:0")
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(30 * time.Second).Should(gexec.Exit(1))
		Expect(session.Err).To(gbytes.Say(`the bootstrap token was rejected.*vfleet hub token create`))
		err = suite.Mgmt.Get(ctx, client.ObjectKey{Name: "intruder"}, &fleetv1.HostCluster{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a refused agent registered a host: %v", err)
	})

	It("refuses a new host's bootstrap token that tries to join as a registered host, and issues nothing", func(ctx SpecContext) {
		victim := suite.Lab.Hosts()[0]
		out, err := exec.CommandContext(ctx, suite.VfleetBin, "hub", "token", "create", "--kubeconfig", suite.Lab.Management().Kubeconfig()).Output()
		Expect(err).NotTo(HaveOccurred())
		token := strings.TrimSpace(string(out))

		dataDir := GinkgoT().TempDir()
		cmd := exec.Command(suite.VfleetBin, "agent",
			"--host-kubeconfig", victim.Kubeconfig(),
			"--hub", suite.Lab.HubURL(),
			"--hub-ca-file", filepath.Join(suite.Lab.Dir(), "management", "pki", "ca.crt"),
			"--bootstrap-token", token,
			"--host-name", victim.Name, "--region", victim.Host.Region,
			"--data-dir", dataDir,
			"--health-probe-bind-address", "127.0.0.1:0")
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(30 * time.Second).Should(gexec.Exit(1))
		Expect(session.Err).To(gbytes.Say(`already registered.*vfleet hub token create --host ` + victim.Name))
		_, err = os.Stat(filepath.Join(dataDir, "hub", "token"))
		Expect(os.IsNotExist(err)).To(BeTrue(), "the refused agent stored a token: %v", err)
		// The token is put back, unused: it may still register a new host.
		tok, err := join.ParseToken(token)
		Expect(err).NotTo(HaveOccurred())
		Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Namespace: hub.DefaultNamespace, Name: join.SecretName(tok.ID)}, &corev1.Secret{})).To(Succeed())
	})

	It("has the management cluster reject malformed VirtualClusters with messages that say what to fix", func(ctx SpecContext) {
		vc := builder.MakeVirtualCluster("default", "negative").Obj()
		vc.Spec.Resources.CPU = resource.MustParse("-1")
		Expect(suite.Mgmt.Create(ctx, vc)).To(MatchError(ContainSubstring("cpu must be positive")))

		vc = builder.MakeVirtualCluster("default", "switcher").Obj()
		Expect(suite.Mgmt.Create(ctx, vc)).To(Succeed())
		// The hub places it; gone again, it leaves the hosts' committed
		// capacity as the other specs expect it.
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(suite.Mgmt.Delete(ctx, vc))).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(vc), &fleetv1.VirtualCluster{}))
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(BeTrue())
		})
		// A patch of just the change, as kubectl patch sends: the hub is
		// placing the vcluster meanwhile, so an Update could conflict.
		patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"backingStore":{"type":"External","name":"pg"}}}`))
		Expect(suite.Mgmt.Patch(ctx, vc, patch)).To(MatchError(ContainSubstring("backingStore.type is immutable")))
	})
})

var _ = Describe("A tenant's namespace", func() {
	It("holds only as many VirtualClusters as Kubernetes' own quota allows", func(ctx SpecContext) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "quota-tenant"}}
		Expect(suite.Mgmt.Create(ctx, ns)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(suite.Mgmt.Delete(ctx, ns))).To(Succeed())
		})
		quota := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "vclusters"},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/virtualclusters.fleet.vfleet.dev": resource.MustParse("1")}},
		}
		Expect(suite.Mgmt.Create(ctx, quota)).To(Succeed())
		// The quota counts once the controller-manager has seen it.
		Eventually(func(g Gomega) {
			g.Expect(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(quota), quota)).To(Succeed())
			g.Expect(quota.Status.Hard).NotTo(BeEmpty())
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		first := builder.MakeVirtualCluster(ns.Name, "first").CPU("1").Memory("1Gi").Obj()
		Expect(suite.Mgmt.Create(ctx, first)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(suite.Mgmt.Delete(ctx, first))).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(first), &fleetv1.VirtualCluster{}))
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(BeTrue())
		})
		second := builder.MakeVirtualCluster(ns.Name, "second").CPU("1").Memory("1Gi").Obj()
		Expect(suite.Mgmt.Create(ctx, second)).To(MatchError(ContainSubstring("exceeded quota")))
	})
})
