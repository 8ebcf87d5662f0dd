package lab

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/vfleet/vfleet/lab/images"
	"github.com/vfleet/vfleet/lab/realnode"
)

// settle is how long the lab idles before its memory is read: the figure
// that matters is what an idle cluster holds, not the start-up peak.
const settle = 20 * time.Second

// BenchmarkLab measures how long 1 management cluster and 3 hosts (2 nodes
// each) take to become ready with the binaries already built, and the
// resident memory of each cluster once idle. Run it with `make bench-lab`.
func BenchmarkLab(b *testing.B) {
	var startSecs, mgmtMB, hostMB float64
	var breakdown map[Component]float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l, err := New(Config{Dir: b.TempDir(), Hosts: DefaultHosts(3, 2)})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		begin := time.Now()
		b.StartTimer()
		err = l.Start(ctx)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		startSecs += time.Since(begin).Seconds()

		time.Sleep(settle)
		mgmtMB += clusterRSS(b, l.Management(), nil)
		breakdown = map[Component]float64{}
		for _, h := range l.Hosts() {
			hostMB += clusterRSS(b, h, breakdown) / float64(len(l.Hosts()))
		}
		if err := l.Stop(ctx); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(startSecs/n, "s/start")
	b.ReportMetric(mgmtMB/n, "MB/management")
	b.ReportMetric(hostMB/n, "MB/host")
	b.ReportMetric(0, "ns/op") // the start time above is the figure
	var parts []string
	for c, mb := range breakdown {
		parts = append(parts, fmt.Sprintf("%s %.0f MB", c, mb/3))
	}
	sort.Strings(parts)
	b.Logf("mean per host, last run: %s", strings.Join(parts, ", "))
}

// clusterRSS sums the resident memory of the cluster's processes, in MB,
// adding each component's share to breakdown if it is not nil.
func clusterRSS(b *testing.B, c *Cluster, breakdown map[Component]float64) float64 {
	total := 0.0
	for comp, pid := range c.Pids() {
		mb := rssMB(b, pid)
		total += mb
		if breakdown != nil {
			breakdown[comp] += mb
		}
	}
	return total
}

func rssMB(b *testing.B, pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

// BenchmarkRealNode measures a lab host's real node: how long the host
// with it takes to be ready, how long its kubelet takes from start to a
// Ready node, how long a pod takes from create to Running on it (its image
// already imported), and the idle memory of its kubelet, containerd,
// kube-proxy and each pod's shim. Run it with `make bench-lab`.
func BenchmarkRealNode(b *testing.B) {
	var startSecs, readySecs, podSecs, kubeletMB, containerdMB, proxyMB, shimMB float64
	pods := 0
	for i := 0; i < b.N; i++ {
		hosts := DefaultHosts(1, 1)
		hosts[0].RealNodes = 1
		l, err := New(Config{Dir: b.TempDir(), Hosts: hosts})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		begin := time.Now()
		if err := l.Start(ctx); err != nil {
			b.Fatal(err)
		}
		startSecs += time.Since(begin).Seconds()
		h := l.Hosts()[0]
		kube, err := h.Client()
		if err != nil {
			b.Fatal(err)
		}
		node := h.RealNodeNames()[0]

		// The kubelet again from scratch: its node is registered anew.
		if err := h.Stop(ctx, KubeletOf(1)); err != nil {
			b.Fatal(err)
		}
		if err := kube.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
		begin = time.Now()
		if err := h.Start(ctx); err != nil {
			b.Fatal(err)
		}
		readySecs += time.Since(begin).Seconds()

		for j := range 3 {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", j)}, Spec: corev1.PodSpec{
				NodeName:                      node,
				Tolerations:                   []corev1.Toleration{RealNodeToleration},
				TerminationGracePeriodSeconds: ptr.To(int64(0)),
				Containers:                    []corev1.Container{{Name: "sleep", Image: images.BusyBox, Command: []string{"sleep", "3600"}}},
			}}
			begin = time.Now()
			if _, err := kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				p, err := kube.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
				return err == nil && p.Status.Phase == corev1.PodRunning, nil
			})
			if err != nil {
				b.Fatalf("pod %s not Running: %v", pod.Name, err)
			}
			podSecs += time.Since(begin).Seconds()
			pods++
		}

		time.Sleep(settle)
		pids := h.Pids()
		kubeletMB += rssMB(b, pids[KubeletOf(1)])
		containerdMB += rssMB(b, pids[ContainerdOf(1)])
		proxyMB += rssMB(b, pids[KubeProxy])
		shims := 0.0
		n := h.realNode(1)
		for _, pid := range realnode.Shims(n) {
			shims += rssMB(b, pid)
		}
		shimMB += shims / 3
		if err := l.Stop(ctx); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(startSecs/n, "s/host-start")
	b.ReportMetric(readySecs/n, "s/node-ready")
	b.ReportMetric(podSecs/float64(pods), "s/pod-running")
	b.ReportMetric(kubeletMB/n, "MB/kubelet")
	b.ReportMetric(containerdMB/n, "MB/containerd")
	b.ReportMetric(proxyMB/n, "MB/kube-proxy")
	b.ReportMetric(shimMB/n, "MB/pod-shim")
	b.ReportMetric(0, "ns/op")
}
