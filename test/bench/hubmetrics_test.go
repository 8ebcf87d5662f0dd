package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	ctrlenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/hub"
	"github.com/vfleet/vfleet/internal/pki"
	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/envtest"
)

// The fleet BenchmarkHubMetrics simulates, as issue 18 sizes it.
const (
	benchHosts     = 1000
	benchVClusters = 10000
	// scrapeEvery is Prometheus' default scrape interval.
	scrapeEvery = 15 * time.Second
)

// BenchmarkHubMetrics measures what the hub's metrics cost: a real hub
// process over a management API server holding 1,000 hosts and 10,000
// vclusters it placed, restarted and idle for a window with /metrics off,
// then again with it on and scraped every 15 s. It prints the hub's CPU over each
// window, its resident memory at the end and its peak, and the size and
// time of a scrape.
func BenchmarkHubMetrics(b *testing.B) {
	ctx := context.Background()
	env, cfg, err := envtest.Start(envtest.CRDDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Stop() })
	admin, err := env.AddUser(ctrlenvtest.User{Name: "bench-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	kc, err := admin.KubeConfig()
	if err != nil {
		b.Fatal(err)
	}
	kubeconfigPath := filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kc, 0o600); err != nil {
		b.Fatal(err)
	}
	// The simulated agents are a thousand clients, not one limited to
	// client-go's five requests a second.
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: apis.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	populate(ctx, b, c)
	b.Logf("populated %d hosts and %d vclusters in %s", benchHosts, benchVClusters, time.Since(start).Round(time.Second))
	agents, stopAgents := context.WithCancel(ctx)
	defer stopAgents()
	go heartbeat(agents, c)

	vfleet := goBuild(b, b.TempDir(), "github.com/vfleet/vfleet/cmd/vfleet")
	window := 60 * time.Second
	if d, err := time.ParseDuration(os.Getenv("VFLEET_BENCH_WINDOW")); err == nil {
		window = d
	}
	b.ResetTimer()
	for range b.N {
		// The first hub places the fleet, and goes on writing statuses for
		// a while after: its window is no idle hub's. Each measured hub
		// starts over the placed fleet, as a restarted one would.
		runHub(ctx, b, c, vfleet, kubeconfigPath, dir, "", admin.Config(), time.Second)
		off := runHub(ctx, b, c, vfleet, kubeconfigPath, dir, "", admin.Config(), window)
		on := runHub(ctx, b, c, vfleet, kubeconfigPath, dir, "127.0.0.1", admin.Config(), window)
		fmt.Printf("hub over %s idle, %d hosts, %d vclusters placed:\n", window, benchHosts, benchVClusters)
		for _, r := range []hubRun{off, on} {
			fmt.Printf("  metrics %-3s  CPU %6.2f%% of a core   RSS %4d MiB   peak RSS %4d MiB", r.name, 100*r.cpu.Seconds()/window.Seconds(), r.rss>>20, r.peak>>20)
			if r.scrapes > 0 {
				fmt.Printf("   %d scrapes of %d series, %d KiB, %s each", r.scrapes, r.series, r.bytes>>10, r.scrapeTime.Round(time.Millisecond))
			}
			fmt.Println()
		}
		b.ReportMetric(100*off.cpu.Seconds()/window.Seconds(), "cpu%-off")
		b.ReportMetric(100*on.cpu.Seconds()/window.Seconds(), "cpu%-on")
		b.ReportMetric(float64(off.rss>>20), "rss-MiB-off")
		b.ReportMetric(float64(on.rss>>20), "rss-MiB-on")
		b.ReportMetric(float64(on.bytes>>10), "scrape-KiB")
	}
}

// Simulated agents renew their Leases every leaseRenew for leaseDuration,
// the longest the hub takes: a real agent's 2 s for 10 s is 500 writes a
// second at 1,000 hosts, more than this machine's one API server serves
// beside the hub; 50 a second load the hub the same way, less often.
const (
	leaseRenew    = 20 * time.Second
	leaseDuration = 60
)

// heartbeat renews every host's Lease, as its agent would, until ctx
// ends. A host's namespace is the hub's to make (hostaccess); until then
// its Lease waits.
func heartbeat(ctx context.Context, c client.Client) {
	for ctx.Err() == nil {
		next := time.Now().Add(leaseRenew)
		hosts := make(chan int)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := range hosts {
					host := fmt.Sprintf("host-%04d", i)
					lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1.HostNamespace(host), Name: fleetv1.AgentLeaseName}}
					_, _ = controllerutil.CreateOrUpdate(ctx, c, lease, func() error {
						// The label the hub's cache selects agents' Leases by.
						lease.Labels = map[string]string{fleetv1.LabelHost: host}
						lease.Spec = coordinationv1.LeaseSpec{HolderIdentity: ptr.To("agent"), LeaseDurationSeconds: ptr.To(int32(leaseDuration)), RenewTime: &metav1.MicroTime{Time: time.Now()}}
						return nil
					})
				}
			})
		}
		for i := range benchHosts {
			hosts <- i
		}
		close(hosts)
		wg.Wait()
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(next)):
		}
	}
}

// populate makes the fleet: hosts with room, and vclusters to place on
// them.
func populate(ctx context.Context, b *testing.B, c client.Client) {
	b.Helper()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hub.DefaultNamespace}}); err != nil {
		b.Fatal(err)
	}
	parallel(b, benchHosts, func(i int) error {
		name := fmt.Sprintf("host-%04d", i)
		h := builder.MakeHostCluster(name, fmt.Sprintf("region-%d", i%4)).Obj()
		h.Spec.Prices = &fleetv1.Prices{CPUHour: "0.031", MemoryGiBHour: "0.004"}
		if err := c.Create(ctx, h); err != nil {
			return err
		}
		// Room for ten vclusters and their control planes, pods included
		// (each vcluster holds a hundred pods of its host by default).
		h.Status = builder.HostStatus("64", "256Gi", 10000, "v1.36.3")
		return c.Status().Update(ctx, h)
	})
	for i := range 10 {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("tenant-%d", i)}}); err != nil {
			b.Fatal(err)
		}
	}
	parallel(b, benchVClusters, func(i int) error {
		return c.Create(ctx, builder.MakeVirtualCluster(fmt.Sprintf("tenant-%d", i%10), fmt.Sprintf("vc-%05d", i)).Obj())
	})
}

// parallel runs do(0..n-1) eight at a time and fails b on the first error.
func parallel(b *testing.B, n int, do func(int) error) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				if err := do(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// hubRun is what one window of a hub cost.
type hubRun struct {
	name                   string
	cpu                    time.Duration
	rss, peak              uint64
	scrapes, series, bytes int
	scrapeTime             time.Duration
}

// runHub starts the hub, waits until every vcluster is placed and the hub
// has gone quiet, and measures it over window; with metricsHost set it
// serves /metrics there, scraped every scrapeEvery with scraper's
// credentials.
func runHub(ctx context.Context, b *testing.B, c client.Client, vfleet, kubeconfig, dir, metricsHost string, scraper *rest.Config, window time.Duration) hubRun {
	b.Helper()
	ports, release, err := portclaim.Ports(3)
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	certFile, keyFile := joinCertificate(b, dir)
	run := hubRun{name: "off"}
	metricsAddr := "0"
	if metricsHost != "" {
		run.name, metricsAddr = "on", metricsHost+":"+strconv.Itoa(ports[2])
	}
	p, err := procgroup.Start(procgroup.Spec{
		Name: "hub", Path: vfleet, Dir: dir, LogFile: filepath.Join(dir, "hub-"+run.name+".log"),
		Args: []string{"hub", "--kubeconfig=" + kubeconfig, "--leader-elect=false",
			"--join-bind-address=127.0.0.1:" + strconv.Itoa(ports[0]), "--tls-cert-file=" + certFile, "--tls-private-key-file=" + keyFile,
			"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(ports[1]), "--metrics-bind-address=" + metricsAddr,
			// Placing 10,000 vclusters one at a time at 50 requests a
			// second would take the run's hour; what is measured is the
			// hub once they are placed.
			"--concurrent-virtualcluster-syncs=8", "--kube-api-qps=400", "--kube-api-burst=800"},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Kill() }()
	waitPlaced(ctx, b, c)
	settle(b, p.Pid())

	before := procUsage(b, p.Pid())
	deadline := time.Now().Add(window)
	for metricsHost != "" && time.Now().Before(deadline) {
		series, size, took := scrapeOnce(b, "https://"+metricsAddr+"/metrics", scraper)
		run.scrapes++
		run.series, run.bytes, run.scrapeTime = series, size, took
		time.Sleep(min(scrapeEvery, time.Until(deadline)))
	}
	time.Sleep(time.Until(deadline))
	after := procUsage(b, p.Pid())
	run.cpu, run.rss, run.peak = after.cpu-before.cpu, after.rss, after.peak
	return run
}

// joinCertificate is a serving certificate the hub's join server starts with.
func joinCertificate(b *testing.B, dir string) (string, string) {
	b.Helper()
	ca, err := pki.NewCA("bench")
	if err != nil {
		b.Fatal(err)
	}
	pair, err := ca.Issue(pki.Request{CommonName: "hub", DNSNames: []string{"localhost"}, Usage: pki.ServerAuth})
	if err != nil {
		b.Fatal(err)
	}
	cert, key, err := pair.Write(dir, "join")
	if err != nil {
		b.Fatal(err)
	}
	return cert, key
}

// waitPlaced returns once every vcluster has a host.
func waitPlaced(ctx context.Context, b *testing.B, c client.Client) {
	b.Helper()
	start := time.Now()
	for {
		var vcs fleetv1.VirtualClusterList
		if err := c.List(ctx, &vcs); err != nil {
			b.Fatal(err)
		}
		placed := 0
		for i := range vcs.Items {
			if vcs.Items[i].Status.Host != "" {
				placed++
			}
		}
		if placed == benchVClusters {
			b.Logf("all %d vclusters placed after %s", placed, time.Since(start).Round(time.Second))
			return
		}
		if time.Since(start) > 20*time.Minute {
			b.Fatalf("%d of %d vclusters placed after 20 minutes", placed, benchVClusters)
		}
		time.Sleep(5 * time.Second)
	}
}

// settle returns once the reconciles of the hub's start are over: two
// 10 s windows in a row used about the same CPU (the agents' heartbeats
// keep it from going quiet), or under 5% of a core each.
func settle(b *testing.B, pid int) {
	b.Helper()
	start := time.Now()
	last := time.Duration(-1)
	for time.Since(start) < 10*time.Minute {
		before := procUsage(b, pid).cpu
		time.Sleep(10 * time.Second)
		used := procUsage(b, pid).cpu - before
		if used < 500*time.Millisecond || last >= 0 && used < last*5/4 && last < used*5/4 {
			b.Logf("the hub settled after %s at %s CPU in 10 s", time.Since(start).Round(time.Second), used)
			return
		}
		last = used
	}
	b.Fatal("the hub did not settle in 10 minutes")
}

// scrapeOnce GETs url as cfg's user and returns how many series and
// bytes it answered with, and how long it took.
func scrapeOnce(b *testing.B, url string, cfg *rest.Config) (int, int, time.Duration) {
	b.Helper()
	cfg = rest.CopyConfig(cfg)
	// The hub's certificate is its own self-signed one here: what is
	// measured is the answer, not whom it comes from.
	cfg.CAData, cfg.CAFile, cfg.Insecure = nil, "", true
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	resp, err := hc.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	took := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("scrape: %v %s %s", err, resp.Status, body)
	}
	series := 0
	for _, line := range strings.Split(string(body), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			series++
		}
	}
	return series, len(body), took
}

// usage is a process's CPU time so far and its resident memory now and
// at its peak.
type usage struct {
	cpu       time.Duration
	rss, peak uint64
}

// procUsage reads pid's usage from /proc.
func procUsage(b *testing.B, pid int) usage {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command's closing parenthesis; utime and stime
	// are the 14th and 15th of the line, in clock ticks of 1/100 s.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseUint(fields[11], 10, 64)
	stime, _ := strconv.ParseUint(fields[12], 10, 64)
	u := usage{cpu: time.Duration(utime+stime) * 10 * time.Millisecond}
	u.rss, u.peak = uint64(procKB(pid, "/status", "VmRSS:"))<<10, uint64(procKB(pid, "/status", "VmHWM:"))<<10
	return u
}
