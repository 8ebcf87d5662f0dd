package federation

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vfleet/vfleet/federation/ledger"
)

// BenchmarkApply measures how long a ledger update takes to commit in a
// group of three hubs over mutual TLS on this machine's loopback, each
// with its log on disk (raft-wal): proposed on the leader, and through a
// follower, which passes it on over the federation's API. It reports
// p50 and p99 of each; `make bench-federation` runs it.
func BenchmarkApply(b *testing.B) {
	a, f, c := threeHubs(b)
	defer closePeers(b, a, f, c)
	ctx := context.Background()
	hosts := make([]ledger.Host, 10)
	for i := range hosts {
		hosts[i] = ledger.Host{Name: fmt.Sprintf("host-%d", i), Region: "region-a", Ready: true, Allocatable: map[string]int64{"cpu": 64000, "memory": 256 << 30}}
	}
	if _, err := a.Propose(ctx, ledger.Command{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "region-a", Hub: "hub-a", Reported: time.Now()}, Hosts: hosts}); err != nil {
		b.Fatal(err)
	}
	const n = 500
	for _, via := range []struct {
		name string
		p    *testPeer
	}{{"leader", a}, {"follower", f}} {
		key := "bench/" + via.name
		if _, err := via.p.Propose(ctx, ledger.Command{Op: ledger.OpHome, Key: key, Home: "region-a"}); err != nil {
			b.Fatal(err)
		}
		var took []time.Duration
		for i := range n {
			// What a hub commits: a move, its fence, a region report.
			var cmd ledger.Command
			switch epoch := int64(i / 3); i % 3 {
			case 0:
				cmd = ledger.Command{Op: ledger.OpBumpEpoch, Key: key, From: epoch, Host: hosts[i%len(hosts)].Name}
			case 1:
				cmd = ledger.Command{Op: ledger.OpFence, Key: key, Epoch: epoch + 1}
			default:
				cmd = ledger.Command{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: "region-a", Hub: "hub-a", Reported: time.Now()}, Hosts: hosts}
			}
			start := time.Now()
			if _, err := via.p.Propose(ctx, cmd); err != nil {
				b.Fatalf("%s %d: %v", cmd.Op, i, err)
			}
			took = append(took, time.Since(start))
		}
		slices.Sort(took)
		p50, p99 := took[n/2], took[n*99/100]
		b.ReportMetric(float64(p50.Microseconds())/1000, "ms-p50-"+via.name)
		b.ReportMetric(float64(p99.Microseconds())/1000, "ms-p99-"+via.name)
		fmt.Printf("apply through the %s: %d commands, p50 %s, p99 %s\n", via.name, n, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond))
	}
}
