package federation

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vfleet/vfleet/federation/ledger"
)

// ApplySeconds times this hub's ledger commands from its proposal to the
// federation's answer (through the leader, wherever it is), by op and
// result: the cost of every epoch bump, fence and report. The hub
// registers it with its other federation metrics.
var ApplySeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "vfleet_federation_apply_duration_seconds",
	Help:    "From a ledger command's proposal by this hub to its commit (or refusal), by op and result (Committed, Refused by the ledger, Failed: no quorum, no leader, timeout).",
	Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12), // 1ms to 60s
}, []string{"op", "result"})

// observeApply records one proposal of op that took since start.
func observeApply(op ledger.Op, start time.Time, err error) {
	result := "Committed"
	switch {
	case errors.Is(err, ledger.ErrRefused):
		result = "Refused"
	case err != nil:
		result = "Failed"
	}
	ApplySeconds.WithLabelValues(string(op), result).Observe(time.Since(start).Seconds())
}
