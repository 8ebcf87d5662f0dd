package hub

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/vfleet/vfleet/federation"
)

// The federation's state as this hub's peer sees it, on the hub's
// metrics endpoint.
var (
	federationQuorum = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vfleet_federation_quorum",
		Help: "1 while this hub's federation peer can commit through a quorum of hubs; at 0 the hub places and fails over nothing.",
	})
	federationLeader = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vfleet_federation_leader",
		Help: "1 while this hub's federation peer leads the raft group.",
	})
	federationApplied = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vfleet_federation_applied_index",
		Help: "The last raft log index this hub's federation peer applied to its ledger.",
	})
)

var registerFederationMetrics = sync.OnceFunc(func() {
	metrics.Registry.MustRegister(federationQuorum, federationLeader, federationApplied, federation.ApplySeconds)
})

func gauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func setPeerMetrics(st federation.Status) {
	federationQuorum.Set(gauge(st.Quorum))
	federationLeader.Set(gauge(st.State == "Leader"))
	federationApplied.Set(float64(st.AppliedIndex))
}

// clearPeerMetrics: a replica that runs no peer (it stopped leading the
// hub) has no quorum to speak of.
func clearPeerMetrics() {
	federationQuorum.Set(0)
	federationLeader.Set(0)
}
