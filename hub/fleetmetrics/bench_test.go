package fleetmetrics

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// fleetOf makes hosts priced hosts in four regions, each running
// perHost vclusters with their ControlPlanes, as the hub's cache holds
// them.
func fleetOf(hosts, perHost int) ([]fleetv1.HostCluster, []fleetv1.VirtualCluster, []fleetv1.ControlPlane, beats) {
	now := time.Now()
	var hs []fleetv1.HostCluster
	var vcs []fleetv1.VirtualCluster
	var cps []fleetv1.ControlPlane
	seen := beats{}
	for i := range hosts {
		name := fmt.Sprintf("host-%04d", i)
		hs = append(hs, fleetv1.HostCluster{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: fleetv1.HostClusterSpec{Region: fmt.Sprintf("region-%d", i%4), Prices: &fleetv1.Prices{CPUHour: "0.031", MemoryGiBHour: "0.004"}},
			Status: fleetv1.HostClusterStatus{
				Conditions:  []metav1.Condition{{Type: fleetv1.ConditionReady, Status: metav1.ConditionTrue}},
				Allocatable: list("64", "256Gi", 1100), Committed: list("40", "160Gi", 200), Used: list("20", "64Gi", 150),
			}})
		seen[name] = now
		for j := range perHost {
			ns, vc := fmt.Sprintf("tenant-%03d", (i*perHost+j)%500), fmt.Sprintf("vc-%04d-%02d", i, j)
			vcs = append(vcs, fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: vc},
				Status: fleetv1.VirtualClusterStatus{Host: name, Epoch: 1, Phase: fleetv1.PhaseReady,
					Reserved: &fleetv1.Resources{CPU: resource.MustParse("4"), Memory: resource.MustParse("16Gi")}}})
			cps = append(cps, fleetv1.ControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1.HostNamespace(name), Name: vc + "." + ns},
				Spec:   fleetv1.ControlPlaneSpec{VirtualCluster: fleetv1.VirtualClusterReference{Namespace: ns, Name: vc}, Epoch: 1},
				Status: fleetv1.ControlPlaneStatus{Used: &fleetv1.ResourceUse{CPU: resource.MustParse("2"), Memory: resource.MustParse("6Gi"), Pods: 15}}})
		}
	}
	return hs, vcs, cps, seen
}

// constCollector sends what Measure computed, for the exposition's size.
type constCollector []prometheus.Metric

func (c constCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }
func (c constCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}

// BenchmarkMeasure is what one scrape of the hub costs at the issue's
// scale, 1,000 hosts and 10,000 vclusters, beyond reading the cache (a
// list from an informer's store): the computation, and the size of the
// text exposition. make bench-metrics runs it.
func BenchmarkMeasure(b *testing.B) {
	hosts, vcs, cps, seen := fleetOf(1000, 10)
	now := time.Now()
	var ms []prometheus.Metric
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ms = Measure(hosts, vcs, cps, seen, now)
	}
	b.StopTimer()
	reg := prometheus.NewRegistry()
	reg.MustRegister(constCollector(ms))
	families, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ms)), "series")
	b.ReportMetric(float64(buf.Len()), "scrape-bytes")
}
