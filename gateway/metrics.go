package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Connection results.
const (
	resultRouted      = "routed"
	resultUnknown     = "unknown_server_name"
	resultHoldExpired = "hold_expired"
	resultBadHello    = "bad_hello"
	resultClosed      = "closed"
)

// Metrics are the gateway's: connections by result, how long a routed
// connection waited for its control plane, and what is open.
type Metrics struct {
	connections *prometheus.CounterVec
	wait        prometheus.Histogram
	open        prometheus.Gauge
	held        prometheus.Gauge
}

// NewMetrics registers the gateway's metrics with reg, and a gauge of the
// routes routes holds.
func NewMetrics(reg prometheus.Registerer, routes func() int) *Metrics {
	m := &Metrics{
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vfleet_gateway_connections_total",
			Help: "Connections the gateway took, by result: routed, unknown_server_name, hold_expired, bad_hello, closed.",
		}, []string{"result"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vfleet_gateway_connection_wait_seconds",
			Help:    "From a connection's arrival to its control plane answering: long while the vcluster moves or wakes.",
			Buckets: []float64{.001, .005, .02, .1, .5, 1, 2.5, 5, 10, 20, 40, 60},
		}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vfleet_gateway_open_connections",
			Help: "Connections the gateway routes now.",
		}),
	}
	m.held = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vfleet_gateway_held_connections",
		Help: "Connections waiting for their vcluster to be reachable: it moves, starts or wakes.",
	})
	reg.MustRegister(m.connections, m.wait, m.open, m.held, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vfleet_gateway_routes",
		Help: "VirtualClusters the gateway has a server name for.",
	}, func() float64 { return float64(routes()) }))
	return m
}

func (m *Metrics) routed(wait time.Duration) {
	m.connections.WithLabelValues(resultRouted).Inc()
	m.wait.Observe(wait.Seconds())
}

func (m *Metrics) refused(result string) { m.connections.WithLabelValues(result).Inc() }
