package agent

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// relayedOf collects what relay makes of text, one control plane's.
type relayedOf struct{ text, namespace, name string }

func (relayedOf) Describe(chan<- *prometheus.Desc) {}

func (r relayedOf) Collect(ch chan<- prometheus.Metric) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(r.text))
	if err != nil {
		panic(err)
	}
	for _, m := range relay(families, r.namespace, r.name) {
		ch <- m
	}
}

func TestRelay(t *testing.T) {
	const controlPlane = `# HELP workqueue_depth Current depth of workqueue
# TYPE workqueue_depth gauge
workqueue_depth{controller="sync-pod",name="sync-pod"} 3
# HELP controller_runtime_reconcile_time_seconds Length of time per reconciliation per controller
# TYPE controller_runtime_reconcile_time_seconds histogram
controller_runtime_reconcile_time_seconds_bucket{controller="sync-pod",le="0.1"} 4
controller_runtime_reconcile_time_seconds_bucket{controller="sync-pod",le="+Inf"} 5
controller_runtime_reconcile_time_seconds_sum{controller="sync-pod"} 0.9
controller_runtime_reconcile_time_seconds_count{controller="sync-pod"} 5
# HELP vfleet_syncer_refusals_total Refused.
# TYPE vfleet_syncer_refusals_total counter
vfleet_syncer_refusals_total{kind="Pod",reason="ForbiddenVolumeType",vcluster="forged"} 2
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
# HELP rest_client_requests_total Number of HTTP requests.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="10.0.0.1:6443",method="GET"} 17
`
	const want = `# HELP vfleet_syncer_queue_depth Current depth of workqueue
# TYPE vfleet_syncer_queue_depth gauge
vfleet_syncer_queue_depth{controller="sync-pod",name="sync-pod",vcluster="shop",vcluster_namespace="tenant-a"} 3
# HELP vfleet_syncer_sync_duration_seconds Length of time per reconciliation per controller
# TYPE vfleet_syncer_sync_duration_seconds histogram
vfleet_syncer_sync_duration_seconds_bucket{controller="sync-pod",vcluster="shop",vcluster_namespace="tenant-a",le="0.1"} 4
vfleet_syncer_sync_duration_seconds_bucket{controller="sync-pod",vcluster="shop",vcluster_namespace="tenant-a",le="+Inf"} 5
vfleet_syncer_sync_duration_seconds_sum{controller="sync-pod",vcluster="shop",vcluster_namespace="tenant-a"} 0.9
vfleet_syncer_sync_duration_seconds_count{controller="sync-pod",vcluster="shop",vcluster_namespace="tenant-a"} 5
# HELP vfleet_syncer_refusals_total Refused.
# TYPE vfleet_syncer_refusals_total counter
vfleet_syncer_refusals_total{kind="Pod",reason="ForbiddenVolumeType",vcluster="shop",vcluster_namespace="tenant-a"} 2
`
	// Go's and client-go's series stay behind; a vcluster label the
	// control plane wrote is the agent's to set.
	if err := testutil.CollectAndCompare(relayedOf{controlPlane, "tenant-a", "shop"}, bytes.NewBufferString(want)); err != nil {
		t.Error(err)
	}
}
