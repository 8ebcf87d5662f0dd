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
