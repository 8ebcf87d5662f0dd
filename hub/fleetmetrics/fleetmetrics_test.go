package fleetmetrics

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

type beats map[string]time.Time

func (b beats) LastSeen(host string) (time.Time, bool) { t, ok := b[host]; return t, ok }

func list(cpu, mem string, pods int64) corev1.ResourceList {
	l := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	if pods >= 0 {
		l[corev1.ResourcePods] = *resource.NewQuantity(pods, resource.DecimalSI)
	}
	return l
}

// samples turns metrics into "name{k=v,...}" → value, labels sorted.
func samples(t *testing.T, ms []prometheus.Metric) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range ms {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, l := range pb.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(labels)
		name := m.Desc().String()
		name = name[strings.Index(name, `"`)+1:]
		name = name[:strings.Index(name, `"`)]
		key := fmt.Sprintf("%s{%s}", name, strings.Join(labels, ","))
		if _, dup := out[key]; dup {
			t.Fatalf("%s sent twice", key)
		}
		out[key] = pb.GetGauge().GetValue()
	}
	return out
}

func TestMeasure(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	h1 := fleetv1.HostCluster{ObjectMeta: metav1.ObjectMeta{Name: "h1"}, Spec: fleetv1.HostClusterSpec{Region: "r1", Prices: &fleetv1.Prices{CPUHour: "0.02", MemoryGiBHour: "0.002"}},
		Status: fleetv1.HostClusterStatus{
			Conditions:  []metav1.Condition{{Type: fleetv1.ConditionReady, Status: metav1.ConditionTrue}},
			Allocatable: list("16", "64Gi", 220), Committed: list("3", "5Gi", 20), Used: list("500m", "1Gi", 3),
		}}
	h2 := fleetv1.HostCluster{ObjectMeta: metav1.ObjectMeta{Name: "h2"}, Spec: fleetv1.HostClusterSpec{Region: "r2"},
		Status: fleetv1.HostClusterStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")}}}
	reserved := &fleetv1.Resources{CPU: resource.MustParse("2"), Memory: resource.MustParse("4Gi")}
	vcs := []fleetv1.VirtualCluster{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "one"}, Status: fleetv1.VirtualClusterStatus{Host: "h1", Epoch: 2, Phase: fleetv1.PhaseReady, Reserved: reserved}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "two"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "three"}, Status: fleetv1.VirtualClusterStatus{Host: "h1", Epoch: 1, Phase: fleetv1.PhaseElsewhere, Reserved: reserved}},
	}
	cp := func(host string, epoch int64, l corev1.ResourceList) fleetv1.ControlPlane {
		used := &fleetv1.ResourceUse{CPU: *l.Cpu(), Memory: *l.Memory(), Pods: int32(l.Pods().Value())}
		return fleetv1.ControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1.HostNamespace(host), Name: "one.a"},
			Spec:   fleetv1.ControlPlaneSpec{VirtualCluster: fleetv1.VirtualClusterReference{Namespace: "a", Name: "one"}, Epoch: epoch},
			Status: fleetv1.ControlPlaneStatus{Used: used}}
	}
	cps := []fleetv1.ControlPlane{cp("h1", 2, list("500m", "1Gi", 3)), cp("h2", 1, list("2", "4Gi", 9))}

	got := samples(t, Measure([]fleetv1.HostCluster{h1, h2}, vcs, cps, beats{"h1": now.Add(-3 * time.Second)}, now))
	want := map[string]float64{
		"vfleet_hub_hosts{region=r1,state=Ready}":    1,
		"vfleet_hub_hosts{region=r1,state=NotReady}": 0,
		"vfleet_hub_hosts{region=r1,state=Unknown}":  0,
		"vfleet_hub_hosts{region=r2,state=Ready}":    0,
		"vfleet_hub_hosts{region=r2,state=NotReady}": 0,
		"vfleet_hub_hosts{region=r2,state=Unknown}":  1,

		"vfleet_hub_host_allocatable{host=h1,region=r1,resource=cpu,unit=core}":           16,
		"vfleet_hub_host_allocatable{host=h1,region=r1,resource=memory,unit=byte}":        64 << 30,
		"vfleet_hub_host_allocatable{host=h1,region=r1,resource=pods,unit=integer}":       220,
		"vfleet_hub_host_committed{host=h1,region=r1,resource=cpu,unit=core}":             3,
		"vfleet_hub_host_committed{host=h1,region=r1,resource=memory,unit=byte}":          5 << 30,
		"vfleet_hub_host_committed{host=h1,region=r1,resource=pods,unit=integer}":         20,
		"vfleet_hub_host_used{host=h1,region=r1,resource=cpu,unit=core}":                  0.5,
		"vfleet_hub_host_used{host=h1,region=r1,resource=memory,unit=byte}":               1 << 30,
		"vfleet_hub_host_used{host=h1,region=r1,resource=pods,unit=integer}":              3,
		"vfleet_hub_host_allocatable{host=h2,region=r2,resource=cpu,unit=core}":           8,
		"vfleet_hub_host_heartbeat_age_seconds{host=h1,region=r1}":                        3,
		"vfleet_hub_host_cost_per_hour{basis=allocatable,currency=USD,host=h1,region=r1}": 16*0.02 + 64*0.002,
		"vfleet_hub_host_cost_per_hour{basis=committed,currency=USD,host=h1,region=r1}":   3*0.02 + 5*0.002,
		"vfleet_hub_host_cost_per_hour{basis=used,currency=USD,host=h1,region=r1}":        0.5*0.02 + 1*0.002,

		"vfleet_hub_virtualclusters{host=h1,namespace=a,phase=Ready,region=r1}":     1,
		"vfleet_hub_virtualclusters{host=,namespace=a,phase=Pending,region=}":       1,
		"vfleet_hub_virtualclusters{host=h1,namespace=b,phase=Elsewhere,region=r1}": 1,

		// Its control plane at its epoch, not the stale one on h2.
		"vfleet_hub_virtualcluster_cost_per_hour{basis=reserved,currency=USD,host=h1,namespace=a,region=r1,virtualcluster=one}":  2*0.02 + 4*0.002,
		"vfleet_hub_virtualcluster_cost_per_hour{basis=requested,currency=USD,host=h1,namespace=a,region=r1,virtualcluster=one}": 0.5*0.02 + 1*0.002,
		"vfleet_hub_virtualcluster_cost_per_hour{basis=idle,currency=USD,host=h1,namespace=a,region=r1,virtualcluster=one}":      1.5*0.02 + 3*0.002,

		// What it holds, priced or not; nothing of the copy another region runs.
		"vfleet_hub_virtualcluster_resources{basis=reserved,host=h1,namespace=a,region=r1,resource=cpu,unit=core,virtualcluster=one}":     2,
		"vfleet_hub_virtualcluster_resources{basis=reserved,host=h1,namespace=a,region=r1,resource=memory,unit=byte,virtualcluster=one}":  4 << 30,
		"vfleet_hub_virtualcluster_resources{basis=requested,host=h1,namespace=a,region=r1,resource=cpu,unit=core,virtualcluster=one}":    0.5,
		"vfleet_hub_virtualcluster_resources{basis=requested,host=h1,namespace=a,region=r1,resource=memory,unit=byte,virtualcluster=one}": 1 << 30,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || math.Abs(g-v) > 1e-9*math.Max(1, math.Abs(v)) {
			t.Errorf("%s = %v (sent: %v), want %v", k, g, ok, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s = %v, not expected", k, got[k])
		}
	}
}

func TestIdle(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		reserved, requested, want corev1.ResourceList
	}{
		{"nothing requested", list("2", "4Gi", -1), nil, list("2", "4Gi", -1)},
		{"part requested", list("2", "4Gi", -1), list("500m", "1Gi", 3), list("1500m", "3Gi", -1)},
		{"more requested than reserved: none idle", list("2", "4Gi", -1), list("3", "1Gi", 3), list("0", "3Gi", -1)},
		{"a negative report is ignored", list("2", "4Gi", -1), list("-1", "1Gi", 3), list("2", "3Gi", -1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Idle(tc.reserved, tc.requested)
			if len(got) != len(tc.want) {
				t.Fatalf("Idle = %v, want %v", got, tc.want)
			}
			for name, q := range tc.want {
				if g := got[name]; g.Cmp(q) != 0 {
					t.Errorf("idle %s = %s, want %s", name, g.String(), q.String())
				}
			}
		})
	}
}
