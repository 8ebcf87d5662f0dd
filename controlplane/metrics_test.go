package controlplane

import (
	"strings"
	"testing"
)

func TestSumRequests(t *testing.T) {
	const apiserver = `# HELP apiserver_request_total Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 10
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="namespace",subresource="",verb="LIST",version="v1"} 5
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="POST",version="v1"} 3
apiserver_request_total{code="0",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="WATCH",version="v1"} 7
# HELP etcd_requests_total other
# TYPE etcd_requests_total counter
etcd_requests_total{operation="get"} 99
`
	f, err := sumRequests(strings.NewReader(apiserver))
	if err != nil {
		t.Fatal(err)
	}
	if f.GetName() != apiserverRequests {
		t.Errorf("family %q", f.GetName())
	}
	got := map[string]float64{}
	for _, m := range f.GetMetric() {
		labels := ""
		for _, l := range m.GetLabel() {
			labels += l.GetName() + "=" + l.GetValue() + " "
		}
		got[labels] = m.GetCounter().GetValue()
	}
	want := map[string]float64{"code=200 verb=LIST ": 15, "code=201 verb=POST ": 3, "code=0 verb=WATCH ": 7}
	if len(got) != len(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s= %v, want %v", k, got[k], v)
		}
	}
	for _, garbage := range []string{"not {{ metrics", "apiserver_request_total{code=\"200\" {{ 3"} {
		if _, err := sumRequests(strings.NewReader(garbage)); err == nil {
			t.Errorf("took %q", garbage)
		}
	}
}
