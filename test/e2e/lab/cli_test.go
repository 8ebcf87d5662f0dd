package lab_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/lab/images"
	"github.com/vfleet/vfleet/lab/realnode"
	"github.com/vfleet/vfleet/test/framework"
)

// A one-host lab keeps the CLI specs cheap.
var smallLab = []string{"--hosts", "1", "--nodes", "1"}

func vfleet(args ...string) *gexec.Session {
	session, err := gexec.Start(exec.Command(vfleetBin, args...), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	return session
}

func recordedPids(dir string) []int {
	st, err := lab.ReadState(dir)
	Expect(err).NotTo(HaveOccurred())
	var pids []int
	for _, c := range st.Clusters {
		pids = append(pids, values(c.Pids)...)
	}
	return pids
}

var _ = Describe("vfleet lab", func() {
	It("starts in the background, shows status, and stops and deletes it with down", func(_ SpecContext) {
		dir := GinkgoT().TempDir() + "/lab"

		up := vfleet(append([]string{"lab", "up", "--dir", dir}, smallLab...)...)
		Eventually(up).WithTimeout(3 * time.Minute).Should(gexec.Exit(0))
		Expect(up.Out).To(gbytes.Say(`host-1: kube-apiserver healthy`))
		Expect(up.Out).To(gbytes.Say(`lab: ready in`))
		Expect(up.Out).To(gbytes.Say(`host-1\s+host\s+region-a\s+region-a-1\s+https://127.0.0.1:\d+\s+1/1\s+Healthy\s+` + dir + `/host-1/kubeconfig`))

		pids := recordedPids(dir)
		Expect(pids).To(HaveLen(7 + 6)) // management: 7 processes (PostgreSQL, the etcd store and the gateway among them), the host: 6
		Expect(framework.Alive(pids)).To(HaveLen(len(pids)), "the lab must outlive the up command")

		status := vfleet("lab", "status", "--dir", dir)
		Eventually(status).WithTimeout(30 * time.Second).Should(gexec.Exit(0))
		Expect(status.Out).To(gbytes.Say(`Running`))
		Expect(status.Out).To(gbytes.Say(`management\s+management\s+-\s+-\s+https://127.0.0.1:\d+\s+-\s+Healthy`))
		Expect(status.Out).To(gbytes.Say(`host-1\s+host.*1/1\s+Healthy`))

		down := vfleet("lab", "down", "--dir", dir)
		Eventually(down).WithTimeout(time.Minute).Should(gexec.Exit(0))
		Expect(framework.Alive(pids)).To(BeEmpty())
		Expect(framework.ProcessesUsing(dir)).To(BeEmpty())
		Expect(dir).NotTo(BeADirectory())

		By("refusing status and down once the lab is gone")
		Eventually(vfleet("lab", "status", "--dir", dir)).WithTimeout(30 * time.Second).Should(gexec.Exit(1))
		Eventually(vfleet("lab", "down", "--dir", dir)).WithTimeout(30 * time.Second).Should(gexec.Exit(1))
	}, SpecTimeout(5*time.Minute))

	It("takes every lab process with it when the process running the lab is killed", func(_ SpecContext) {
		dir := GinkgoT().TempDir() + "/lab"
		up := vfleet(append([]string{"lab", "up", "--foreground", "--dir", dir}, smallLab...)...)
		DeferCleanup(func() { up.Kill() })
		Eventually(up.Out).WithTimeout(3 * time.Minute).Should(gbytes.Say(`lab is up in`))
		pids := recordedPids(dir)
		Expect(framework.Alive(pids)).To(HaveLen(7 + 6)) // management: 7 processes (PostgreSQL, the etcd store and the gateway among them), the host: 6

		Expect(up.Command.Process.Signal(syscall.SIGKILL)).To(Succeed())
		Eventually(up).Should(gexec.Exit())
		Eventually(func() []int { return framework.Alive(pids) }).WithTimeout(30 * time.Second).Should(BeEmpty())
		Expect(framework.ProcessesUsing(dir)).To(BeEmpty())

		By("reporting the dead lab, and clearing it with down")
		status := vfleet("lab", "status", "--dir", dir)
		Eventually(status).WithTimeout(30 * time.Second).Should(gexec.Exit(0))
		Expect(status.Out).To(gbytes.Say(`Failed`))
		Expect(status.Out).To(gbytes.Say(`is gone`))
		Eventually(vfleet("lab", "down", "--dir", dir)).WithTimeout(time.Minute).Should(gexec.Exit(0))
		_, err := os.Stat(dir)
		Expect(os.IsNotExist(err)).To(BeTrue())
	}, SpecTimeout(5*time.Minute))

	It("leaves nothing of a real node on the machine once a killed lab is cleared with down", func(ctx SpecContext) {
		dir := GinkgoT().TempDir() + "/lab"
		up := vfleet(append([]string{"lab", "up", "--foreground", "--dir", dir, "--real-nodes", "1"}, smallLab...)...)
		DeferCleanup(func() { up.Kill() })
		// Another suite's lab may hold the machine's real nodes for a while.
		Eventually(up.Out).WithTimeout(4 * time.Minute).Should(gbytes.Say(`lab is up in`))

		By("running a container on the real node")
		cfg, err := kubeconfig.RESTConfig(filepath.Join(dir, "host-1", "kubeconfig"))
		Expect(err).NotTo(HaveOccurred())
		host, err := kubernetes.NewForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sleeper"}, Spec: corev1.PodSpec{
			NodeSelector: map[string]string{realnode.LabelKind: realnode.KindReal},
			Tolerations:  []corev1.Toleration{lab.RealNodeToleration},
			Containers:   []corev1.Container{{Name: "sleep", Image: images.BusyBox, Command: []string{"sleep", "3600"}}},
		}}
		_, err = host.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			p, err := host.CoreV1().Pods("default").Get(ctx, "sleeper", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())

		By("killing the lab: its container outlives it, as on a machine whose kubelet died")
		Expect(up.Command.Process.Signal(syscall.SIGKILL)).To(Succeed())
		Eventually(up).Should(gexec.Exit())
		Expect(framework.MachineLeftovers(dir)).NotTo(BeEmpty())

		Eventually(vfleet("lab", "down", "--dir", dir)).WithTimeout(time.Minute).Should(gexec.Exit(0))
		Eventually(func() []string { return framework.MachineLeftovers(dir) }).WithTimeout(10 * time.Second).Should(BeEmpty())
		Expect(framework.ProcessesUsing(dir)).To(BeEmpty())
	}, SpecTimeout(6*time.Minute))
})
