package syncer_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/cost"
	"github.com/vfleet/vfleet/test/builder"
)

// scrape GETs the hub's /metrics with token ("" for none) and returns the
// status code and body.
func scrape(token string) (int, string) {
	GinkgoHelper()
	req, err := http.NewRequest(http.MethodGet, suite.Lab.HubMetricsURL(), nil)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The hub's certificate for /metrics is self-signed (no
	// --metrics-cert-dir in the lab): what is checked here is who may
	// read, not who serves.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
	resp, err := c.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, string(body)
}

// gauge finds the value of name with labels among the families in body.
func gauge(body, name string, labels map[string]string) (float64, bool) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return 0, false
	}
	f, ok := families[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if matches(m, labels) {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func matches(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// token makes a ServiceAccount in namespace default and returns a token of
// it, valid for ten minutes.
func token(ctx SpecContext, kube kubernetes.Interface, name string) string {
	GinkgoHelper()
	_, err := kube.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(kube.CoreV1().ServiceAccounts("default").Delete(ctx, name, metav1.DeleteOptions{}))).To(Succeed())
	})
	tr, err := kube.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

var _ = Describe("The hub's metrics", Ordered, func() {
	var scraper string

	BeforeAll(func(ctx SpecContext) {
		cfg, err := suite.Lab.Management().RESTConfig()
		Expect(err).NotTo(HaveOccurred())
		kube := kubernetes.NewForConfigOrDie(cfg)
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "e2e-metrics-reader"},
			Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
		binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "e2e-metrics-reader"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "default", Name: "e2e-scraper"}}}
		for _, o := range []client.Object{role, binding} {
			Expect(suite.Mgmt.Create(ctx, o)).To(Succeed())
			DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(suite.Mgmt.Delete(ctx, o))).To(Succeed()) })
		}
		scraper = token(ctx, kube, "e2e-scraper")

	})

	It("are served only to a caller allowed to get /metrics", func(ctx SpecContext) {
		cfg, err := suite.Lab.Management().RESTConfig()
		Expect(err).NotTo(HaveOccurred())
		code, _ := scrape("")
		Expect(code).To(Equal(http.StatusUnauthorized), "no token")
		code, _ = scrape(token(ctx, kubernetes.NewForConfigOrDie(cfg), "e2e-nobody"))
		Expect(code).To(Equal(http.StatusForbidden), "a token of an account not allowed")
		code, _ = scrape(scraper)
		Expect(code).To(Equal(http.StatusOK))
	})

	It("price what a vcluster reserves, what its pods request, and the difference idle", func(ctx SpecContext) {
		t := suite.NewTenantOf(ctx, builder.MakeVirtualCluster("default", "priced").CPU("2").Memory("2Gi"))
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(suite.Mgmt.Delete(ctx, t.VC))).To(Succeed()) })
		host := &fleetv1.HostCluster{}
		Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Name: t.VC.Status.Host}, host)).To(Succeed())
		patch := client.MergeFrom(host.DeepCopy())
		host.Spec.Prices = &fleetv1.Prices{CPUHour: "0.04", MemoryGiBHour: "0.005", Currency: "EUR"}
		Expect(suite.Mgmt.Patch(ctx, host, patch)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			patch := client.MergeFrom(host.DeepCopy())
			host.Spec.Prices = nil
			Expect(suite.Mgmt.Patch(ctx, host, patch)).To(Succeed())
		})

		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "priced", Namespace: "default"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "registry.k8s.io/pause:3.10",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")}},
		}}}}
		_, err := t.Kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())

		labels := func(basis string) map[string]string {
			return map[string]string{"namespace": "default", "virtualcluster": "priced", "host": host.Name, "currency": "EUR", "basis": basis}
		}
		prices := cost.Prices{CPUHour: 0.04, MemoryGiBHour: 0.005}
		By("its agent reports what its pods request on its ControlPlane, and the hub prices it")
		Eventually(func(g Gomega) {
			cp := &fleetv1.ControlPlane{}
			g.Expect(suite.Mgmt.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(host.Name), Name: "priced.default"}, cp)).To(Succeed())
			g.Expect(cp.Status.Used).NotTo(BeNil())
			g.Expect(cp.Status.Used.CPU.MilliValue()).To(BeNumerically(">=", 500), "the pod's request is counted")
			code, body := scrape(scraper)
			g.Expect(code).To(Equal(http.StatusOK))
			reserved, ok := gauge(body, "vfleet_hub_virtualcluster_cost_per_hour", labels("reserved"))
			g.Expect(ok).To(BeTrue(), "reserved cost exported")
			requested, _ := gauge(body, "vfleet_hub_virtualcluster_cost_per_hour", labels("requested"))
			idle, _ := gauge(body, "vfleet_hub_virtualcluster_cost_per_hour", labels("idle"))
			g.Expect(reserved).To(BeNumerically("~", 2*0.04+2*0.005, 1e-9))
			g.Expect(requested).To(BeNumerically("~", prices.PerHour(cp.Status.Used.CPU.MilliValue(), cp.Status.Used.Memory.Value()), 1e-9))
			g.Expect(requested).To(BeNumerically(">=", 0.5*0.04+0.5*0.005-1e-9))
			g.Expect(idle).To(BeNumerically("~", math.Max(reserved-requested, 0), 1e-9))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())

		By("the host, its capacity and the vcluster's phase are there too")
		_, body := scrape(scraper)
		for _, want := range []struct {
			name   string
			labels map[string]string
		}{
			{"vfleet_hub_hosts", map[string]string{"region": host.Spec.Region, "state": "Ready"}},
			{"vfleet_hub_host_allocatable", map[string]string{"host": host.Name, "resource": "cpu", "unit": "core"}},
			{"vfleet_hub_host_heartbeat_age_seconds", map[string]string{"host": host.Name}},
			{"vfleet_hub_virtualclusters", map[string]string{"namespace": "default", "host": host.Name, "phase": "Ready"}},
			{"vfleet_hub_host_cost_per_hour", map[string]string{"host": host.Name, "basis": "allocatable", "currency": "EUR"}},
		} {
			v, ok := gauge(body, want.name, want.labels)
			Expect(ok).To(BeTrue(), fmt.Sprintf("%s%v exported", want.name, want.labels))
			Expect(v).To(BeNumerically(">", 0), fmt.Sprintf("%s%v", want.name, want.labels))
		}
		age, _ := gauge(body, "vfleet_hub_host_heartbeat_age_seconds", map[string]string{"host": host.Name})
		Expect(age).To(BeNumerically("<", 30), "the agent heartbeats every few seconds")

		By("vfleet top shows what the hub exports, to an admin's kubeconfig (a client certificate)")
		s := suite.Vfleet("top", "hosts")
		Expect(s).To(gexec.Exit(0), "stderr: %s", s.Err.Contents())
		Expect(s.Out).To(gbytes.Say(`HOST\s+REGION\s+CPU \(ALLOC/COMMIT/USED\)\s+CPU%`))
		Expect(s.Out).To(gbytes.Say(host.Name + `\s+` + host.Spec.Region + `\s+\S+/\S+/\S+\s+\d+%.*EUR`))
		s = suite.Vfleet("top", "vclusters")
		Expect(s).To(gexec.Exit(0), "stderr: %s", s.Err.Contents())
		reserved, _ := gauge(body, "vfleet_hub_virtualcluster_cost_per_hour", labels("reserved"))
		Expect(s.Out).To(gbytes.Say(`priced\s+` + host.Name + `\s+2/\S+\s+2\.0Gi/\S+\s+` + regexp.QuoteMeta(fmt.Sprintf("%.4f EUR", reserved))))
	})
})
