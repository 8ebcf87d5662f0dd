package dashboards

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vfleet/vfleet/internal/grafana"
)

// promql parses as Prometheus does by default: no experimental functions
// or syntax, which Debian's older server would refuse anyway.
var promql = parser.NewParser(parser.Options{})

// TestDashboards checks every dashboard without a Prometheus: unique uids,
// the datasource variable every panel reads from, template variables
// defined where used and used where defined, and every query parsed by
// Prometheus' own PromQL parser. make dashboards-check then evaluates
// the queries against a real Prometheus scraping a lab.
func TestDashboards(t *testing.T) {
	boards, err := grafana.Load(os.DirFS("."))
	if err != nil {
		t.Fatal(err)
	}
	if len(boards) == 0 {
		t.Fatal("no dashboards")
	}
	uids := map[string]string{}
	for _, d := range boards {
		t.Run(d.File, func(t *testing.T) {
			if d.UID == "" || d.Title == "" {
				t.Fatalf("uid %q, title %q: both are needed", d.UID, d.Title)
			}
			if other, dup := uids[d.UID]; dup {
				t.Fatalf("uid %q is %s's too", d.UID, other)
			}
			uids[d.UID] = d.File

			defined := map[string]bool{}
			values := map[string]string{}
			var used []string
			for _, v := range d.Templating.List {
				if defined[v.Name] {
					t.Errorf("variable %s defined twice", v.Name)
				}
				defined[v.Name] = true
				values[v.Name] = ".*"
				if v.Type == "query" {
					used = append(used, grafana.References(v.QueryText())...)
				}
			}
			if !defined["datasource"] {
				t.Fatal("no datasource variable: every panel reads from ${datasource}")
			}
			ids := map[int]bool{}
			for _, p := range d.Panels {
				if ids[p.ID] {
					t.Errorf("panel %q: id %d is another panel's too", p.Title, p.ID)
				}
				ids[p.ID] = true
				var ds struct{ Type, UID string }
				if err := json.Unmarshal(p.Datasource, &ds); err != nil || ds.Type != "prometheus" || ds.UID != "${datasource}" {
					t.Errorf("panel %q reads from %s, not the prometheus ${datasource}", p.Title, p.Datasource)
				}
				if p.GridPos == nil || len(p.Targets) == 0 {
					t.Errorf("panel %q has no place or no query", p.Title)
				}
				for _, tg := range p.Targets {
					refs := grafana.References(tg.Expr)
					used = append(used, refs...)
					for _, r := range refs {
						if _, builtin := grafana.Builtins[r]; !builtin && !defined[r] {
							t.Errorf("panel %q, query %s: $%s is not defined", p.Title, tg.RefID, r)
						}
					}
					if _, err := promql.ParseExpr(grafana.Substitute(tg.Expr, values)); err != nil {
						t.Errorf("panel %q, query %s does not parse: %v\n%s", p.Title, tg.RefID, err, tg.Expr)
					}
				}
			}
			for name := range defined {
				if name != "datasource" && !slices.Contains(used, name) {
					t.Errorf("variable %s is never used", name)
				}
			}
		})
	}
}

// TestChecksCanFail: the checks above catch what they claim to.
func TestChecksCanFail(t *testing.T) {
	if _, err := promql.ParseExpr(grafana.Substitute(`sum by (region) (vfleet_hub_hosts{region=~"$region"}`, map[string]string{"region": ".*"})); err == nil {
		t.Error("an unbalanced query parsed")
	}
	if got := grafana.References(`rate(x{a="$a",b="${b}"}[$__rate_interval])`); !slices.Equal(got, []string{"a", "b", "__rate_interval"}) {
		t.Errorf("References = %v", got)
	}
	if got := grafana.Substitute(`x{a=~"$a"}[$__range]`, map[string]string{"a": ".*"}); got != `x{a=~".*"}[1h]` {
		t.Errorf("Substitute = %s", got)
	}
}
