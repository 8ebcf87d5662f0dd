package realnodes_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vfleet/vfleet/syncer/resources/pods"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/lab/images"
	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/test/framework"
)

var _ = Describe("A vcluster's pods on a real node", Ordered, func() {
	var t framework.Tenant
	var web *corev1.Pod

	BeforeAll(func(ctx SpecContext) { t = suite.NewTenantOfClass(ctx, "real", lab.RealNodesClass) }, NodeTimeout(3*time.Minute))

	It("run their containers for real: the log line of a Deployment's pod is read back through the vcluster", func(ctx SpecContext) {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(1)),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: "web", Image: images.Agnhost, Args: []string{"netexec", "--http-port=8080"},
					}}},
				},
			},
		}
		framework.OnRealNodes(&d.Spec.Template.Spec)
		_, err := t.Kube.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			pods, err := t.Kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods.Items).To(HaveLen(1))
			g.Expect(pods.Items[0].Status.Phase).To(Equal(corev1.PodRunning), "status: %+v", pods.Items[0].Status)
			web = &pods.Items[0]
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
		Expect(web.Spec.NodeName).To(HavePrefix(suite.Lab.Hosts()[0].RealNodeNames()[0]))
		Eventually(func(g Gomega) {
			logs, err := t.Kube.CoreV1().Pods("default").GetLogs(web.Name, &corev1.PodLogOptions{Container: "web"}).DoRaw(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(logs)).To(ContainSubstring("Started HTTP server on port 8080"))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	}, SpecTimeout(3*time.Minute))

	It("says why a container cannot be read in the tenant's own names, not the host's", func(ctx SpecContext) {
		// agnhost's user is root, which the syncer never lets run: the
		// container waits, and its logs cannot be read.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "rooted"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "rooted", Image: images.Agnhost, Args: []string{"pause"}}},
		}}
		framework.OnRealNodes(&pod.Spec)
		pod.Spec.SecurityContext = nil
		_, err := t.Kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		// What the API answers, read whole (client-go's error would keep
		// only part of it).
		httpClient, err := rest.HTTPClientFor(t.Config)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.Config.Host+"/api/v1/namespaces/default/pods/rooted/log", nil)
			g.Expect(err).NotTo(HaveOccurred())
			resp, err := httpClient.Do(req)
			g.Expect(err).NotTo(HaveOccurred())
			defer func() { _ = resp.Body.Close() }()
			body, err := io.ReadAll(resp.Body)
			g.Expect(err).NotTo(HaveOccurred())
			said := string(body)
			g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest), said)
			g.Expect(said).To(ContainSubstring("is waiting to start"))
			g.Expect(said).To(ContainSubstring("rooted"))
			g.Expect(said).NotTo(ContainSubstring(t.HostNS))
			g.Expect(said).NotTo(ContainSubstring(t.HostName("rooted", "default")))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	}, SpecTimeout(2*time.Minute))

	It("can be exec'd into through the vcluster", func(ctx SpecContext) {
		out, err := framework.Exec(ctx, t.Config, t.Kube, "default", web.Name, "web", "sh", "-c", "echo $((6*7)) > /tmp/answer && cat /tmp/answer && id -u")
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Fields(out)).To(Equal([]string{"42", "1000"}))
	}, SpecTimeout(time.Minute))

	It("are reached from another pod through a vcluster Service, by its ClusterIP", func(ctx SpecContext) {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		}}
		svc, err := t.Kube.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		// The vcluster's Service takes its host copy's ClusterIP, the one
		// the host's kube-proxy serves.
		Eventually(func(g Gomega) {
			host, err := t.Host.CoreV1().Services(t.HostNS).Get(ctx, t.HostName("web", "default"), metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			svc, err = t.Kube.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(svc.Spec.ClusterIP).To(Equal(host.Spec.ClusterIP))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		client := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "client"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "client", Image: images.BusyBox, Command: []string{"sleep", "3600"}}},
			// Gone at once when deleted: sleep ignores SIGTERM.
			TerminationGracePeriodSeconds: ptr.To(int64(0)),
		}}
		framework.OnRealNodes(&client.Spec)
		_, err = t.Kube.CoreV1().Pods("default").Create(ctx, client, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			p, err := t.Kube.CoreV1().Pods("default").Get(ctx, "client", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		// kube-proxy programs the Service once it sees its endpoints.
		Eventually(func(g Gomega) {
			out, err := framework.Exec(ctx, t.Config, t.Kube, "default", "client", "client", "sh", "-c", "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 "+svc.Spec.ClusterIP+" 80")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out).To(HaveSuffix(web.Name))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(2 * time.Second).Should(Succeed())
	}, SpecTimeout(3*time.Minute))

	It("resolve their vcluster's names with its own DNS, and names outside it as their class allows", func(ctx SpecContext) {
		svc, err := t.Kube.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		dns, err := t.Host.CoreV1().Services(t.HostNS).Get(ctx, syncer.DNSServiceName, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred(), "the host has no Service in front of the vcluster's DNS")
		sh := func(script string) (string, error) {
			return framework.Exec(ctx, t.Config, t.Kube, "default", "client", "client", "sh", "-c", script)
		}
		out, err := sh("cat /etc/resolv.conf")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring("nameserver " + dns.Spec.ClusterIP))
		Expect(out).To(ContainSubstring("search default.svc.cluster.local svc.cluster.local cluster.local"))
		Expect(out).NotTo(ContainSubstring(t.HostNS), "the pod's search path names the host namespace")

		out, err = sh("nslookup web.default.svc.cluster.local")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("Address: " + svc.Spec.ClusterIP))
		// By its short name, through the search path, and reached there.
		Eventually(func(g Gomega) {
			out, err := sh("printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out).To(HaveSuffix(web.Name))
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(2 * time.Second).Should(Succeed())
		// The real-nodes class lets pods resolve every outside name; the
		// lab's DNS stands in for the Internet's.
		out, err = sh("nslookup " + lab.OutsideNames[0])
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("Address: " + lab.OutsideAddress))
		// The host's own names are not the tenant's: its DNS Service,
		// which the host's pods resolve, does not exist here.
		out, _ = sh("nslookup kube-dns.kube-system.svc.cluster.local")
		Expect(out).To(ContainSubstring("NXDOMAIN"))
	}, SpecTimeout(2*time.Minute))

	It("know themselves in /etc/hosts by their vcluster's names, as a kubelet of the vcluster would write them", func(ctx SpecContext) {
		member := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "member"}, Spec: corev1.PodSpec{
			Hostname: "member-0", Subdomain: "members",
			Containers: []corev1.Container{{Name: "member", Image: images.BusyBox, Command: []string{"sleep", "3600"}}},
		}}
		framework.OnRealNodes(&member.Spec)
		_, err := t.Kube.CoreV1().Pods("default").Create(ctx, member, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			member, err = t.Kube.CoreV1().Pods("default").Get(ctx, "member", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(member.Status.Phase).To(Equal(corev1.PodRunning), "status: %+v", member.Status)
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		// The host copy's init container that wrote the file is not the
		// tenant's to see.
		Expect(member.Status.InitContainerStatuses).To(BeEmpty())
		out, err := framework.Exec(ctx, t.Config, t.Kube, "default", "member", "member", "sh", "-c", "cat /etc/hosts; hostname")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(HavePrefix("# Kubernetes-managed hosts file."))
		Expect(out).To(ContainSubstring(member.Status.PodIP + "\tmember-0.members.default.svc.cluster.local\tmember-0\n"))
		Expect(out).To(ContainSubstring("kubernetes.default.svc"), "the vcluster's API is no longer named in the file")
		Expect(out).NotTo(ContainSubstring(t.HostNS))
		Expect(strings.TrimSpace(out)).To(HaveSuffix("\nmember-0"))
	}, SpecTimeout(2*time.Minute))

	It("are followed, copied to and from, and forwarded to with kubectl and the tenant's kubeconfig", func(ctx SpecContext) {
		ticker := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ticker"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "ticker", Image: images.BusyBox,
				Command: []string{"sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"}}},
			TerminationGracePeriodSeconds: ptr.To(int64(0)),
		}}
		framework.OnRealNodes(&ticker.Spec)
		_, err := t.Kube.CoreV1().Pods("default").Create(ctx, ticker, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			p, err := t.Kube.CoreV1().Pods("default").Get(ctx, "ticker", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())

		By("logs -f: lines written after it started arrive while it runs")
		session, err := gexec.Start(t.Kubectl(ctx, "logs", "-f", "ticker"), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session.Out).WithTimeout(30 * time.Second).Should(gbytes.Say(`tick 1\n`))
		Eventually(session.Out).WithTimeout(30 * time.Second).Should(gbytes.Say(`tick 30\n`))
		Expect(session).NotTo(gexec.Exit(), "logs -f stopped")
		session.Kill()

		By("cp: a file goes into the pod and comes back the same")
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "in.txt"), []byte("copied through the vcluster\n"), 0o644)).To(Succeed())
		run := func(args ...string) {
			GinkgoHelper()
			out, err := t.Kubectl(ctx, args...).CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), string(out))
		}
		run("cp", filepath.Join(dir, "in.txt"), "default/client:/tmp/in.txt", "-c", "client")
		run("cp", "default/client:/tmp/in.txt", filepath.Join(dir, "out.txt"), "-c", "client")
		Expect(os.ReadFile(filepath.Join(dir, "out.txt"))).To(BeEquivalentTo("copied through the vcluster\n"))

		By("port-forward: a local port reaches the pod's")
		pf, err := gexec.Start(t.Kubectl(ctx, "port-forward", "pod/"+web.Name, ":8080"), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		defer pf.Kill()
		Eventually(pf.Out).WithTimeout(30 * time.Second).Should(gbytes.Say(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`))
		port := regexp.MustCompile(`127\.0\.0\.1:(\d+) -> 8080`).FindStringSubmatch(string(pf.Out.Contents()))[1]
		resp, err := http.Get("http://127.0.0.1:" + port + "/hostname")
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(body)).To(Equal(web.Name))
	}, SpecTimeout(3*time.Minute))

	It("reach their vcluster's API from inside, with their own token, at the one address their environment gives", func(ctx SpecContext) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "insider"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "insider", Image: images.Agnhost, Args: []string{"inclusterclient", "--poll-interval=1"},
				// The downward API gives the pod's own names, not its
				// host copy's.
				Env: []corev1.EnvVar{
					{Name: "MY_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "MY_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
				}}},
		}}
		framework.OnRealNodes(&pod.Spec)
		_, err := t.Kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		// It calls /healthz every second with the in-cluster configuration
		// (the variables, the mounted token and CA) and logs each failure.
		Eventually(func(g Gomega) {
			logs, err := t.Kube.CoreV1().Pods("default").GetLogs("insider", &corev1.PodLogOptions{}).DoRaw(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(strings.Count(string(logs), "calling /healthz")).To(BeNumerically(">=", 3))
			g.Expect(string(logs)).NotTo(ContainSubstring("status=failed"))
		}).WithContext(ctx).WithTimeout(90 * time.Second).WithPolling(2 * time.Second).Should(Succeed())
		env, err := framework.Exec(ctx, t.Config, t.Kube, "default", "insider", "insider", "sh", "-c", "env | grep -E '^(KUBERNETES_|MY_)'")
		Expect(err).NotTo(HaveOccurred())
		Expect(env).To(ContainSubstring("KUBERNETES_PORT_443_TCP_ADDR="))
		Expect(env).NotTo(ContainSubstring("10.96.0.1"), "a variable names the host's API")
		vars := map[string]string{}
		for _, line := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
		}
		Expect(vars).To(And(HaveKeyWithValue("MY_NAME", "insider"), HaveKeyWithValue("MY_NAMESPACE", "default")))
		// The kubernetes Service's endpoints are that same address, as a
		// cluster's apiserver writes them.
		Eventually(func(g Gomega) {
			ep, err := t.Kube.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(ep.Subsets).To(HaveLen(1))
			g.Expect(ep.Subsets[0].Addresses).To(ConsistOf(HaveField("IP", vars["KUBERNETES_SERVICE_HOST"])))
			g.Expect(ep.Subsets[0].Ports).To(ConsistOf(HaveField("Port", BeEquivalentTo(mustAtoi(vars["KUBERNETES_SERVICE_PORT"])))))
			slices, err := t.Kube.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=kubernetes"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(slices.Items).To(ConsistOf(HaveField("Endpoints", ConsistOf(HaveField("Addresses", ConsistOf(vars["KUBERNETES_SERVICE_HOST"]))))))
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
	}, SpecTimeout(2*time.Minute))
	It("list their own namespace's pods at kubernetes.default.svc with their mounted token, and are refused what RBAC refuses", func(ctx SpecContext) {
		ns := "default"
		_, err := t.Kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "lister"}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = t.Kube.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pod-lister"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = t.Kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "lister"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-lister"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "lister", Namespace: ns}}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "lister"}, Spec: corev1.PodSpec{
			ServiceAccountName:            "lister",
			Containers:                    []corev1.Container{{Name: "lister", Image: images.Kubectl, Command: []string{"sleep", "3600"}}},
			TerminationGracePeriodSeconds: ptr.To(int64(0)),
		}}
		framework.OnRealNodes(&pod.Spec)
		_, err = t.Kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			p, err := t.Kube.CoreV1().Pods(ns).Get(ctx, "lister", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		// kubectl from inside, by the API's name, checking its certificate
		// against the mounted CA, with the mounted token.
		kubectl := func(args string) (string, error) {
			sa := "/var/run/secrets/kubernetes.io/serviceaccount"
			return framework.Exec(ctx, t.Config, t.Kube, ns, "lister", "lister", "sh", "-c",
				`kubectl --server="https://kubernetes.default.svc:${KUBERNETES_SERVICE_PORT}" --certificate-authority=`+sa+`/ca.crt `+
					`--token="$(cat `+sa+`/token)" `+args+` 2>&1`)
		}
		out, err := kubectl("get pods -n default -o name")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(strings.Fields(out)).To(ContainElement("pod/lister"))
		for _, refused := range []string{"get pods -n kube-system", "get secrets -n default", "delete pod lister -n default"} {
			out, err := kubectl(refused)
			Expect(err).To(HaveOccurred(), "%q was allowed: %s", refused, out)
			Expect(out).To(ContainSubstring(`cannot`), refused)
			Expect(out).To(ContainSubstring(`"system:serviceaccount:default:lister"`), refused)
		}
	}, SpecTimeout(2*time.Minute))
	It("show the tenant nothing that names the host's namespace or its objects", func(ctx SpecContext) {
		// Everything the specs above made the vcluster show: pods that ran,
		// waited, were exec'd into, Services, Events from the host's
		// kubelet and scheduler, nodes, DNS.
		lists := map[string]func() (any, error){
			"events":         func() (any, error) { return t.Kube.CoreV1().Events("").List(ctx, metav1.ListOptions{}) },
			"pods":           func() (any, error) { return t.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{}) },
			"services":       func() (any, error) { return t.Kube.CoreV1().Services("").List(ctx, metav1.ListOptions{}) },
			"endpointslices": func() (any, error) { return t.Kube.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{}) },
			"nodes":          func() (any, error) { return t.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}) },
		}
		for what, list := range lists {
			obj, err := list()
			Expect(err).NotTo(HaveOccurred())
			data, err := json.Marshal(obj)
			Expect(err).NotTo(HaveOccurred())
			for _, host := range []string{t.HostNS, "-x-default-x-"} {
				if i := strings.Index(string(data), host); i >= 0 {
					Fail(fmt.Sprintf("%s name the host's %q: ...%s...", what, host, data[max(0, i-300):min(len(data), i+100)]))
				}
			}
		}
	}, SpecTimeout(time.Minute))
})

var _ = Describe("A host with a real node", func() {
	It("has DNS, as a real cluster does: a pod there resolves the cluster's Service names", func(ctx SpecContext) {
		h := suite.Lab.Hosts()[0]
		cfg, err := h.RESTConfig()
		Expect(err).NotTo(HaveOccurred())
		host, err := h.Client()
		Expect(err).NotTo(HaveOccurred())
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "resolver"}, Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "resolver", Image: images.BusyBox, Command: []string{"sleep", "3600"}}},
			TerminationGracePeriodSeconds: ptr.To(int64(0)),
		}}
		framework.OnRealNodes(&pod.Spec)
		_, err = host.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			p, err := host.CoreV1().Pods("default").Get(ctx, "resolver", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		out, err := framework.Exec(ctx, cfg, host, "default", "resolver", "resolver", "nslookup", "kubernetes.default.svc.cluster.local")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("Address: 10.96.0.1"))
		// A name outside the cluster does not exist (there is no upstream),
		// so resolvers go on down their search list.
		out, _ = framework.Exec(ctx, cfg, host, "default", "resolver", "resolver", "nslookup", "nowhere.example")
		Expect(out).To(ContainSubstring("NXDOMAIN"))
	}, SpecTimeout(2*time.Minute))
})

var _ = Describe("A vcluster whose class does not hand out the real nodes", func() {
	It("cannot put a pod there: it stays off the host, with an Event saying why", func(ctx SpecContext) {
		t := suite.NewTenant(ctx, "kwokonly")
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sneaky"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "sneaky", Image: images.BusyBox, Command: []string{"sleep", "3600"}}},
		}}
		framework.OnRealNodes(&pod.Spec)
		_, err := t.Kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			evs, err := t.Kube.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=sneaky"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(evs.Items).To(ContainElement(HaveField("Reason", pods.ReasonSteering)))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		_, err = t.Host.CoreV1().Pods(t.HostNS).Get(ctx, t.HostName("sneaky", "default"), metav1.GetOptions{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the pod reached the host: %v", err)
	}, SpecTimeout(4*time.Minute))
})

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	Expect(err).NotTo(HaveOccurred())
	return n
}
