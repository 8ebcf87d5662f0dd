// Package cost prices capacity from a HostCluster's spec.prices. Placement
// scores hosts by it and the hub's metrics report it: one formula, so that
// the host placement calls cheapest is the one the cost dashboard shows
// as cheapest.
package cost

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// gib is the unit memory is priced in.
const gib = 1 << 30

// Prices are a host's hourly prices, parsed.
type Prices struct {
	CPUHour       float64
	MemoryGiBHour float64
	// Currency is an ISO 4217 code; USD when the host does not say.
	Currency string
}

// Of parses p. It is false for a host without prices, and for prices the
// API server's validation would have refused (an object written before
// that validation, or by a client that skipped it): such a host has no
// price rather than a wrong one.
func Of(p *fleetv1.Prices) (Prices, bool) {
	if p == nil {
		return Prices{}, false
	}
	cpu, err1 := strconv.ParseFloat(p.CPUHour, 64)
	mem, err2 := strconv.ParseFloat(p.MemoryGiBHour, 64)
	if err1 != nil || err2 != nil || cpu < 0 || mem < 0 {
		return Prices{}, false
	}
	currency := p.Currency
	if currency == "" {
		currency = "USD"
	}
	return Prices{CPUHour: cpu, MemoryGiBHour: mem, Currency: currency}, true
}

// PerHour is what milliCPU of CPU and memory bytes cost for an hour:
// CPUs × cpuHour + GiB × memoryGiBHour.
func (p Prices) PerHour(milliCPU, memory int64) float64 {
	return float64(milliCPU)/1000*p.CPUHour + float64(memory)/gib*p.MemoryGiBHour
}

// OfList is PerHour of the cpu and memory in l; other resources are free.
func (p Prices) OfList(l corev1.ResourceList) float64 {
	return p.PerHour(l.Cpu().MilliValue(), l.Memory().Value())
}
