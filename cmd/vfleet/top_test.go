package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// exported is what a hub exports of a fleet of two hosts, one priced,
// and two vclusters in two namespaces.
const exported = `# TYPE vfleet_hub_hosts gauge
vfleet_hub_hosts{region="eu",state="Ready"} 2
# TYPE vfleet_hub_host_allocatable gauge
vfleet_hub_host_allocatable{host="a",region="eu",resource="cpu",unit="core"} 16
vfleet_hub_host_allocatable{host="a",region="eu",resource="memory",unit="byte"} 6.8719476736e+10
vfleet_hub_host_allocatable{host="b",region="eu",resource="cpu",unit="core"} 8
# TYPE vfleet_hub_host_committed gauge
vfleet_hub_host_committed{host="a",region="eu",resource="cpu",unit="core"} 4.5
vfleet_hub_host_committed{host="a",region="eu",resource="memory",unit="byte"} 8.589934592e+09
# TYPE vfleet_hub_host_used gauge
vfleet_hub_host_used{host="a",region="eu",resource="cpu",unit="core"} 4
vfleet_hub_host_used{host="a",region="eu",resource="memory",unit="byte"} 1.7179869184e+10
# TYPE vfleet_hub_host_cost_per_hour gauge
vfleet_hub_host_cost_per_hour{basis="allocatable",currency="EUR",host="a",region="eu"} 0.768
vfleet_hub_host_cost_per_hour{basis="used",currency="EUR",host="a",region="eu"} 0.2
# TYPE vfleet_hub_virtualcluster_resources gauge
vfleet_hub_virtualcluster_resources{basis="reserved",host="a",namespace="shop",region="eu",resource="cpu",unit="core",virtualcluster="web"} 2
vfleet_hub_virtualcluster_resources{basis="reserved",host="a",namespace="shop",region="eu",resource="memory",unit="byte",virtualcluster="web"} 4.294967296e+09
vfleet_hub_virtualcluster_resources{basis="requested",host="a",namespace="shop",region="eu",resource="cpu",unit="core",virtualcluster="web"} 0.5
vfleet_hub_virtualcluster_resources{basis="requested",host="a",namespace="shop",region="eu",resource="memory",unit="byte",virtualcluster="web"} 5.36870912e+08
vfleet_hub_virtualcluster_resources{basis="reserved",host="b",namespace="ci",region="eu",resource="cpu",unit="core",virtualcluster="run-1"} 1
vfleet_hub_virtualcluster_resources{basis="reserved",host="b",namespace="ci",region="eu",resource="memory",unit="byte",virtualcluster="run-1"} 1.073741824e+09
# TYPE vfleet_hub_virtualcluster_cost_per_hour gauge
vfleet_hub_virtualcluster_cost_per_hour{basis="reserved",currency="EUR",host="a",namespace="shop",region="eu",virtualcluster="web"} 0.1
vfleet_hub_virtualcluster_cost_per_hour{basis="requested",currency="EUR",host="a",namespace="shop",region="eu",virtualcluster="web"} 0.025
vfleet_hub_virtualcluster_cost_per_hour{basis="idle",currency="EUR",host="a",namespace="shop",region="eu",virtualcluster="web"} 0.075
`

func TestTopTables(t *testing.T) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(exported))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		print func(*bytes.Buffer) error
		want  []string
	}{
		{"hosts", func(b *bytes.Buffer) error { return printHosts(b, fams) }, []string{
			"HOST   REGION   CPU (ALLOC/COMMIT/USED)   CPU%   MEMORY (ALLOC/COMMIT/USED)   MEMORY%   COST/H",
			"a      eu       16/4500m/4                25%    64.0Gi/8.0Gi/16.0Gi          25%       0.7680 EUR",
			"b      eu       8/0/0                     0%     0/0/0                        <none>    <none>",
		}},
		{"vclusters of one namespace", func(b *bytes.Buffer) error { return printVClusters(b, fams, "shop") }, []string{
			"NAME   HOST   CPU (RESERVED/REQUESTED)   MEMORY (RESERVED/REQUESTED)   COST/H       IDLE/H",
			"web    a      2/500m                     4.0Gi/512.0Mi                 0.1000 EUR   0.0750 EUR",
		}},
		{"vclusters of all", func(b *bytes.Buffer) error { return printVClusters(b, fams, "") }, []string{
			"NAMESPACE   NAME    HOST   CPU (RESERVED/REQUESTED)   MEMORY (RESERVED/REQUESTED)   COST/H       IDLE/H",
			"ci          run-1   b      1/0                        1.0Gi/0                       <none>       <none>",
			"shop        web     a      2/500m                     4.0Gi/512.0Mi                 0.1000 EUR   0.0750 EUR",
		}},
		{"a namespace with none", func(b *bytes.Buffer) error { return printVClusters(b, fams, "empty") }, []string{
			"No vclusters hold anything on a host.",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.print(&b); err != nil {
				t.Fatal(err)
			}
			if got := strings.Split(strings.TrimRight(b.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
