package dashboards_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/grafana"
	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

// dashboardsDir is the repository's dashboards/.
func dashboardsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "dashboards")
}

// startPrometheus runs Debian's Prometheus on config until the spec's
// cleanup, and returns a client of its API.
func startPrometheus(ctx SpecContext, config string) promv1.API {
	GinkgoHelper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		Skip("prometheus is not installed (apt-get install prometheus; .ci/run does)")
	}
	ports, release, err := portclaim.Ports(1)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(release)
	dir := filepath.Dir(config)
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	Expect(err).NotTo(HaveOccurred())
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	cmd := exec.Command(bin, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--storage.tsdb.retention.time=2h")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logFile.Close()
	})
	Eventually(func() (int, error) {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return resp.StatusCode, nil
	}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(500*time.Millisecond).Should(Equal(http.StatusOK), "prometheus's log: %s", logFile.Name())
	c, err := promapi.NewClient(promapi.Config{Address: "http://" + addr})
	Expect(err).NotTo(HaveOccurred())
	return promv1.NewAPI(c)
}

// makeVCluster creates an External vcluster and waits until it is Ready.
func makeVCluster(ctx SpecContext, name string) *fleetv1.VirtualCluster {
	GinkgoHelper()
	vc := &fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: fleetv1.VirtualClusterSpec{
		KubernetesVersion: k8sbin.Version,
		Resources:         fleetv1.Resources{CPU: resource.MustParse("1"), Memory: resource.MustParse("1Gi"), Pods: 20},
		BackingStore:      fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreExternal, Name: lab.StoreName},
	}}
	Expect(suite.Mgmt.Create(ctx, vc)).To(Succeed())
	return framework.WaitForVClusterReady(ctx, suite.Mgmt, client.ObjectKeyFromObject(vc), 3*time.Minute)
}

// unsyncable makes two pods in vc that never reach its host: one its
// class refuses (an NFS volume), one the host refuses (more CPU than the
// host namespace's quota).
func unsyncable(ctx SpecContext, vc *fleetv1.VirtualCluster) {
	GinkgoHelper()
	kube, _ := framework.VClusterClients(framework.VClusterConfig(ctx, suite.Mgmt, vc))
	pod := func(name string, edit func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}},
		}}
		edit(p)
		return p
	}
	for _, p := range []*corev1.Pod{
		pod("nfs", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "share", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "10.0.0.9", Path: "/exports"}}}}
		}),
		pod("greedy", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
		}),
	} {
		// The vcluster's controller-manager makes the default account
		// its apiserver wants first.
		Eventually(func() error {
			_, err := kube.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
			return err
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	}
}

// moved waits until vc is Ready at a later epoch on another host.
func moved(ctx SpecContext, from *fleetv1.VirtualCluster) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		vc := &fleetv1.VirtualCluster{}
		g.Expect(suite.Mgmt.Get(ctx, client.ObjectKeyFromObject(from), vc)).To(Succeed())
		g.Expect(vc.Status.Epoch).To(BeNumerically(">", from.Status.Epoch))
		g.Expect(vc.Status.Host).NotTo(Equal(from.Status.Host))
		g.Expect(vc.Status.Phase).To(Equal(fleetv1.PhaseReady), "conditions: %v", vc.Status.Conditions)
	}).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
}

var _ = Describe("Every dashboard", Ordered, func() {
	var prom promv1.API

	BeforeAll(func(ctx SpecContext) {
		config, err := suite.Lab.PrometheusConfig(ctx, 2*time.Second)
		Expect(err).NotTo(HaveOccurred())
		prom = startPrometheus(ctx, config)

		By("prices on every host, for the cost dashboard")
		var hosts fleetv1.HostClusterList
		Expect(suite.Mgmt.List(ctx, &hosts)).To(Succeed())
		for i := range hosts.Items {
			h := &hosts.Items[i]
			patch := client.MergeFrom(h.DeepCopy())
			h.Spec.Prices = &fleetv1.Prices{CPUHour: "0.031", MemoryGiBHour: "0.004"}
			Expect(suite.Mgmt.Patch(ctx, h, patch)).To(Succeed())
		}

		By("a vcluster no host has room for, which waits")
		tooBig := &fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "too-big"}, Spec: fleetv1.VirtualClusterSpec{
			KubernetesVersion: k8sbin.Version,
			Resources:         fleetv1.Resources{CPU: resource.MustParse("1000"), Memory: resource.MustParse("1Gi"), Pods: 20},
		}}
		Expect(suite.Mgmt.Create(ctx, tooBig)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(suite.Mgmt.Delete(ctx, tooBig))).To(Succeed()) })

		By("a vcluster created, one failed over and one migrated")
		steady := makeVCluster(ctx, "steady")
		failed, migrated := makeVCluster(ctx, "failed"), makeVCluster(ctx, "migrated")
		Eventually(suite.Vfleet("failover", failed.Name)).WithTimeout(time.Minute).Should(gexec.Exit(0))
		moved(ctx, failed)
		other := suite.Lab.Hosts()[0].Name
		if other == migrated.Status.Host {
			other = suite.Lab.Hosts()[1].Name
		}
		Eventually(suite.Vfleet("migrate", migrated.Name, "--to", other)).WithTimeout(time.Minute).Should(gexec.Exit(0))
		moved(ctx, migrated)

		By("a tenant's pods the syncer cannot copy, for the syncer dashboard")
		unsyncable(ctx, steady)
	}, NodeTimeout(12*time.Minute))

	It("has every template variable list values, and every panel's query return data", func(ctx SpecContext) {
		boards, err := grafana.Load(os.DirFS(dashboardsDir()))
		Expect(err).NotTo(HaveOccurred())
		Expect(boards).NotTo(BeEmpty())
		for _, d := range boards {
			values := map[string]string{}
			for _, v := range d.Templating.List {
				metric, label, ok := v.LabelValues()
				if !ok {
					continue
				}
				var got model.LabelValues
				Eventually(func(g Gomega) {
					got, _, err = prom.LabelValues(ctx, label, []string{metric}, time.Now().Add(-time.Hour), time.Now())
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(got).NotTo(BeEmpty())
				}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(2*time.Second).Should(Succeed(),
					"%s: variable %s (label_values(%s, %s)) lists nothing", d.File, v.Name, metric, label)
				values[v.Name] = ".*"
				if !v.Multi {
					values[v.Name] = string(got[0])
				}
			}
			for _, p := range d.Panels {
				for _, t := range p.Targets {
					q := grafana.Substitute(t.Expr, values)
					Eventually(func(g Gomega) {
						res, _, err := prom.Query(ctx, q, time.Now())
						g.Expect(err).NotTo(HaveOccurred())
						g.Expect(empty(res)).To(BeFalse())
					}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(2*time.Second).Should(Succeed(),
						fmt.Sprintf("%s, panel %q, query %s returns no data:\n%s", d.File, p.Title, t.RefID, q))
				}
			}
		}
	}, NodeTimeout(15*time.Minute))
})

// empty says whether a query's result holds no sample.
func empty(v model.Value) bool {
	switch r := v.(type) {
	case model.Vector:
		return len(r) == 0
	case model.Matrix:
		return len(r) == 0
	case *model.Scalar, *model.String:
		return false
	}
	return true
}
