package tenancy_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/framework"
)

// deniedOrUnknown: the API server refused the caller, as unauthenticated
// or as forbidden.
func deniedOrUnknown(err error) bool {
	return apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err)
}

var _ = Describe("A tenant's credentials on the management cluster", func() {
	It("manage its namespace's VirtualClusters and reach nothing else", func(ctx SpecContext) {
		const ns, user = "team-mallory", "mallory@example.com"
		Expect(suite.Mgmt.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		Expect(suite.Mgmt.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenant"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "vfleet-tenant"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		})).To(Succeed())
		cfg, err := clientcmd.BuildConfigFromFlags("", suite.Lab.Management().Kubeconfig())
		Expect(err).NotTo(HaveOccurred())
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
		tenant, err := client.New(cfg, client.Options{Scheme: apis.Scheme()})
		Expect(err).NotTo(HaveOccurred())

		// Its own namespace: create, list, delete. The hub may place it;
		// it is deleted before it matters.
		vc := builder.MakeVirtualCluster(ns, "mine").CPU("1").Memory("1Gi").Obj()
		Expect(tenant.Create(ctx, vc)).To(Succeed())
		Expect(tenant.List(ctx, &fleetv1.VirtualClusterList{}, client.InNamespace(ns))).To(Succeed())
		err = tenant.Status().Patch(ctx, vc, client.RawPatch("application/merge-patch+json", []byte(`{"status":{"host":"host-1"}}`)))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "write its own status: %v", err)
		Expect(tenant.Delete(ctx, vc)).To(Succeed())

		for what, err := range map[string]error{
			"create in another namespace": tenant.Create(ctx, builder.MakeVirtualCluster("default", "theirs").CPU("1").Memory("1Gi").Obj()),
			"list hosts":                  tenant.List(ctx, &fleetv1.HostClusterList{}),
			"read a host's secrets":       tenant.List(ctx, &corev1.SecretList{}, client.InNamespace(fleetv1.HostNamespace(suite.Lab.Hosts()[0].Name))),
			"list stores":                 tenant.List(ctx, &fleetv1.BackingStoreList{}),
			"make a class":                tenant.Create(ctx, &fleetv1.VirtualClusterClass{ObjectMeta: metav1.ObjectMeta{Name: "open"}}),
			"list control planes":         tenant.List(ctx, &fleetv1.ControlPlaneList{}, client.InNamespace(ns)),
		} {
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%s: %v", what, err)
		}
	}, SpecTimeout(time.Minute))
})

var _ = Describe("Tokens stolen from a host namespace", Ordered, func() {
	var t framework.Tenant

	BeforeAll(func(ctx SpecContext) { t = suite.NewTenant(ctx, "eve") }, NodeTimeout(3*time.Minute))

	It("open nothing on the host: a pod's token and the vcluster's admin credentials are the vcluster's", func(ctx SpecContext) {
		// A pod with its account's token makes the syncer keep the token
		// in a host Secret: what someone with the node's files could read.
		_, err := t.Kube.CoreV1().Pods("default").Create(ctx, attackPod("tokened", func(*corev1.Pod) {}), metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		var token string
		Eventually(func(g Gomega) {
			sec, err := t.Host.CoreV1().Secrets(t.HostNS).Get(ctx, t.HostName("tokened", "default")+"-token", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			token = string(sec.Data["token"])
			g.Expect(token).NotTo(BeEmpty())
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		// The token is good: the vcluster knows it as the pod's account.
		admin := framework.VClusterConfig(ctx, suite.Mgmt, t.VC)
		inVCluster := rest.AnonymousClientConfig(admin)
		inVCluster.BearerToken = token
		review, err := kubernetes.NewForConfigOrDie(inVCluster).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(review.Status.UserInfo.Username).To(Equal("system:serviceaccount:default:default"))

		hostCfg, err := suite.Lab.Host(t.VC.Status.Host).RESTConfig()
		Expect(err).NotTo(HaveOccurred())
		stolen := rest.AnonymousClientConfig(hostCfg)
		stolen.BearerToken = token
		// The vcluster's admin, by its client certificate.
		Expect(admin.CertData).NotTo(BeEmpty(), "the vcluster's admin has no certificate to try")
		asAdmin := rest.AnonymousClientConfig(hostCfg)
		asAdmin.CertData, asAdmin.KeyData = admin.CertData, admin.KeyData

		for what, cfg := range map[string]*rest.Config{"the pod's token": stolen, "the vcluster's admin certificate": asAdmin} {
			kube, err := kubernetes.NewForConfig(cfg)
			Expect(err).NotTo(HaveOccurred())
			_, err = kube.CoreV1().Pods(t.HostNS).List(ctx, metav1.ListOptions{})
			Expect(deniedOrUnknown(err)).To(BeTrue(), "%s listed the host namespace's pods: %v", what, err)
			_, err = kube.CoreV1().Secrets(t.HostNS).List(ctx, metav1.ListOptions{})
			Expect(deniedOrUnknown(err)).To(BeTrue(), "%s listed the host namespace's secrets: %v", what, err)
		}
	}, SpecTimeout(time.Minute))
})
