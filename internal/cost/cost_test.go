package cost

import (
	"math"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prices *fleetv1.Prices
		want   Prices
		ok     bool
	}{
		{name: "none", prices: nil},
		{name: "parsed", prices: &fleetv1.Prices{CPUHour: "0.031", MemoryGiBHour: "0.004", Currency: "EUR"}, want: Prices{0.031, 0.004, "EUR"}, ok: true},
		{name: "currency defaults to USD", prices: &fleetv1.Prices{CPUHour: "1", MemoryGiBHour: "0"}, want: Prices{1, 0, "USD"}, ok: true},
		{name: "not a number", prices: &fleetv1.Prices{CPUHour: "cheap", MemoryGiBHour: "0.004"}},
		{name: "negative", prices: &fleetv1.Prices{CPUHour: "0.03", MemoryGiBHour: "-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Of(tc.prices)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("Of(%+v) = %+v, %v; want %+v, %v", tc.prices, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestPerHour(t *testing.T) {
	p := Prices{CPUHour: 0.02, MemoryGiBHour: 0.002}
	for _, tc := range []struct {
		name string
		list corev1.ResourceList
		want float64
	}{
		{name: "empty", list: nil, want: 0},
		{name: "2 CPUs and 4 GiB", list: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")}, want: 0.048},
		{name: "millicores and MiB", list: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")}, want: 0.011},
		{name: "pods are free", list: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110")}, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.OfList(tc.list); math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("OfList = %v, want %v", got, tc.want)
			}
		})
	}
}
