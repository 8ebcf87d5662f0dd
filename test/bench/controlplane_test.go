package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controlplane"
	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/builder"
)

// idle is how long a control plane sits before its memory is read: long
// enough for the start-up garbage to be collected and returned.
func idle() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("VFLEET_BENCH_IDLE")); err == nil {
		return d
	}
	return 30 * time.Second
}

// BenchmarkControlPlane measures what issue 5 asks: create→Ready latency
// through the fleet for one and for ten concurrent creations, and the idle
// memory of one vcluster, next to a bare kube-apiserver over kine started
// by hand, in the same run.
func BenchmarkControlPlane(b *testing.B) {
	ctx := context.Background()
	bins := b.TempDir()
	vfleet := goBuild(b, bins, "github.com/vfleet/vfleet/cmd/vfleet")
	kine := goBuild(b, bins, "github.com/vfleet/vfleet/test/bench/kine")
	binDir := k8sbin.Dir()

	// By hand and standalone first, on a quiet machine.
	var bare, alone []sample
	for range 3 {
		bare = append(bare, runBare(b, kine, binDir))
		alone = append(alone, runStandalone(b, vfleet, binDir))
	}

	l := startLab(b, lab.DefaultHosts(1, 4), vfleet)
	mgmt := hubClient(b, l)
	if err := mgmt.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}); err != nil {
		b.Fatal(err)
	}

	var single []time.Duration
	for i := range 5 {
		lat := createReady(b, mgmt, 1, fmt.Sprintf("one-%d", i))
		single = append(single, lat...)
		if i < 4 {
			deleteAll(b, mgmt)
		}
	}
	// The last single one idles for the memory figure.
	time.Sleep(idle())
	fleetRSS := treeRSS(controlPlanePid(b, l))
	deleteAll(b, mgmt)

	var ten []time.Duration
	for round := range 2 {
		ten = append(ten, createReady(b, mgmt, 10, fmt.Sprintf("r%d", round))...)
		deleteAll(b, mgmt)
	}

	bareReady, bareRSS := summarize(bare)
	aloneReady, aloneRSS := summarize(alone)
	fmt.Printf("\n== control plane benchmark (%s, %d CPUs)\n", k8sbin.Version, numCPU())
	fmt.Printf("create→Ready through the fleet, 1 at a time (%d):   p50 %s  p95 %s\n", len(single), pct(single, 50), pct(single, 95))
	fmt.Printf("create→Ready through the fleet, 10 at once (%d):    p50 %s  p95 %s\n", len(ten), pct(ten, 50), pct(ten, 95))
	fmt.Printf("start→ready, vfleet controlplane alone (3):         p50 %s\n", aloneReady)
	fmt.Printf("start→ready, bare kine + kube-apiserver (3):        p50 %s   ratio %.2f\n", bareReady, aloneReady.Seconds()/bareReady.Seconds())
	fmt.Printf("idle RSS after %s, vcluster in the fleet:          %s\n", idle(), fleetRSS)
	fmt.Printf("idle RSS, vfleet controlplane alone (p50 of 3):     %s\n", aloneRSS)
	fmt.Printf("idle RSS, bare kine + kube-apiserver (p50 of 3):    %s   ratio %.2f\n", bareRSS, float64(aloneRSS.rss)/float64(bareRSS.rss))
	b.ReportMetric(pct(single, 50).Seconds(), "p50-create-s")
	b.ReportMetric(pct(ten, 95).Seconds(), "p95-create10-s")
	b.ReportMetric(float64(fleetRSS.rss)/(1<<20), "idle-RSS-MiB")
}

// sample is one start of a control plane: time to ready, idle memory.
type sample struct {
	ready time.Duration
	mem   memory
}

// memory sums a group of processes: resident, proportional (shared
// pages split between their users), and anonymous (heap and stacks: what
// one more control plane adds when its binaries are already in memory).
type memory struct{ rss, pss, anon int64 }

func (m memory) String() string {
	return fmt.Sprintf("%d MiB RSS, %d MiB PSS, %d MiB anonymous", m.rss>>20, m.pss>>20, m.anon>>20)
}

func summarize(s []sample) (time.Duration, memory) {
	sort.Slice(s, func(i, j int) bool { return s[i].ready < s[j].ready })
	ready := s[len(s)/2].ready
	sort.Slice(s, func(i, j int) bool { return s[i].mem.rss < s[j].mem.rss })
	return ready, s[len(s)/2].mem
}

// startLab starts a lab of hosts in a temporary directory, and stops and
// deletes it, with what it keeps outside that directory, when the
// benchmark ends.
func startLab(b *testing.B, hosts []lab.HostConfig, vfleet string) *lab.Lab {
	ctx := context.Background()
	dir := b.TempDir()
	l, err := lab.New(lab.Config{Dir: dir, Hosts: hosts, VfleetBin: vfleet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = l.Stop(ctx)
		// A lab in a directory the postgres user cannot reach keeps its
		// PostgreSQL data elsewhere; Down deletes that too.
		_ = lab.Down(ctx, dir)
	})
	if err := l.Start(ctx); err != nil {
		b.Fatal(err)
	}
	return l
}

// hubClient is a client of the lab's management cluster, with the hub's
// kinds.
func hubClient(b *testing.B, l *lab.Lab) client.Client {
	cfg, err := l.Management().RESTConfig()
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: apis.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func goBuild(b *testing.B, dir, pkg string) string {
	out := filepath.Join(dir, filepath.Base(pkg))
	if msg, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v\n%s", pkg, err, msg)
	}
	return out
}

// runBare starts kine and a kube-apiserver with its default settings over
// the same PKI a vcluster has, waits until it is ready and idle, and reads
// their memory.
func runBare(b *testing.B, kine, binDir string) sample {
	dir := b.TempDir()
	port := claimPort(b)
	cp, err := controlplane.New(controlplane.Config{Name: "bare", DataDir: dir, BinDir: binDir, Backend: "unused", Port: port})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	k, err := procgroup.Start(procgroup.Spec{Name: "kine", Path: kine, Args: []string{"--data-dir=" + dir}, LogFile: filepath.Join(dir, "kine.log")})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = k.Stop(context.Background(), 10*time.Second) }()
	spec, err := cp.BareAPIServer(controlplane.StoreEndpoint{Servers: "unix://" + filepath.Join(dir, "kine.sock")})
	if err != nil {
		b.Fatal(err)
	}
	waitFile(b, filepath.Join(dir, "kine.sock"))
	api, err := procgroup.Start(spec)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = api.Stop(context.Background(), 15*time.Second) }()
	waitReadyz(b, cp.AdminKubeconfig())
	ready := time.Since(start)
	time.Sleep(idle())
	return sample{ready: ready, mem: add(treeRSS(k.Pid()), treeRSS(api.Pid()))}
}

// runStandalone starts `vfleet controlplane` as the agent would, waits
// until ready and idle, and reads the memory of it and its children.
func runStandalone(b *testing.B, vfleet, binDir string) sample {
	dir := b.TempDir()
	port := claimPort(b)
	start := time.Now()
	p, err := procgroup.Start(procgroup.Spec{Name: "controlplane", Path: vfleet, LogFile: filepath.Join(dir, "controlplane.log"), Args: []string{
		"controlplane", "--data-dir=" + dir, "--port=" + strconv.Itoa(port),
		"--bin-root=" + filepath.Dir(binDir), "--kubernetes-version=" + filepath.Base(binDir),
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Stop(context.Background(), 20*time.Second) }()
	waitFile(b, filepath.Join(dir, "admin.kubeconfig"))
	ready := time.Since(start)
	time.Sleep(idle())
	return sample{ready: ready, mem: treeRSS(p.Pid())}
}

func claimPort(b *testing.B) int {
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(release)
	return ports[0]
}

func waitFile(b *testing.B, path string) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not appear", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReadyz polls /readyz, as the control plane itself does before it
// calls itself ready.
func waitReadyz(b *testing.B, kc string) {
	cfg, err := kubeconfig.RESTConfig(kc)
	if err != nil {
		b.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background()); err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("bare apiserver not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createReady creates n vclusters at once and returns, for each, the time
// from its Create call until it was seen Ready.
func createReady(b *testing.B, mgmt client.Client, n int, prefix string) []time.Duration {
	ctx := context.Background()
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vc := builder.MakeVirtualCluster("bench", fmt.Sprintf("%s-%02d", prefix, i)).CPU("500m").Memory("512Mi").Obj()
			vc.Spec.Resources.Pods = 10
			start := time.Now()
			if err := mgmt.Create(ctx, vc); err != nil {
				errs <- err
				return
			}
			deadline := start.Add(5 * time.Minute)
			for time.Now().Before(deadline) {
				if err := mgmt.Get(ctx, client.ObjectKeyFromObject(vc), vc); err == nil && vc.Status.Phase == fleetv1.PhaseReady {
					lat[i] = time.Since(start)
					return
				}
				if vc.Status.Phase == fleetv1.PhaseFailed {
					break
				}
				time.Sleep(25 * time.Millisecond)
			}
			errs <- fmt.Errorf("vcluster %s not Ready: %+v", vc.Name, vc.Status.Conditions)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return lat
}

func deleteAll(b *testing.B, mgmt client.Client) {
	ctx := context.Background()
	if err := mgmt.DeleteAllOf(ctx, &fleetv1.VirtualCluster{}, client.InNamespace("bench")); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		var list fleetv1.VirtualClusterList
		if err := mgmt.List(ctx, &list, client.InNamespace("bench")); err == nil && len(list.Items) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatal("vclusters not deleted after 3 minutes")
}

// controlPlanePid finds the one control plane the lab's host runs.
func controlPlanePid(b *testing.B, l *lab.Lab) int {
	pids := l.Hosts()[0].ControlPlanePids()
	if len(pids) != 1 {
		b.Fatalf("want one control plane running, found %v", pids)
	}
	return pids[0]
}

// treeRSS sums the memory of pid and its descendants.
func treeRSS(pid int) memory {
	var m memory
	for _, p := range append([]int{pid}, procgroup.Descendants(pid)...) {
		m = add(m, memory{
			rss:  procKB(p, "/status", "VmRSS:") << 10,
			pss:  procKB(p, "/smaps_rollup", "Pss:") << 10,
			anon: procKB(p, "/smaps_rollup", "Anonymous:") << 10,
		})
	}
	return m
}

func add(a, b memory) memory {
	return memory{rss: a.rss + b.rss, pss: a.pss + b.pss, anon: a.anon + b.anon}
}

func procKB(pid int, file, key string) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + file)
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) >= 2 && fields[0] == key {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb
		}
	}
	return 0
}

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))].Round(10 * time.Millisecond)
}

func numCPU() int {
	data, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(data), "processor\t:")
}
