package grafana

import (
	"encoding/json"
	"slices"
	"testing"
	"testing/fstest"
)

func TestLoadAndVariables(t *testing.T) {
	dir := fstest.MapFS{"a.json": {Data: []byte(`{"uid":"a","title":"A","templating":{"list":[
		{"name":"datasource","type":"datasource","query":"prometheus"},
		{"name":"region","type":"query","multi":true,"query":{"query":"label_values(vfleet_hub_hosts, region)","refId":"r"}}]},
		"panels":[{"id":1,"title":"p","targets":[{"expr":"sum(vfleet_hub_hosts{region=~\"$region\"})","refId":"A"}]}]}`)}}
	boards, err := Load(dir)
	if err != nil || len(boards) != 1 || boards[0].File != "a.json" {
		t.Fatalf("Load = %+v, %v", boards, err)
	}
	vars := boards[0].Templating.List
	if metric, label, ok := vars[1].LabelValues(); !ok || metric != "vfleet_hub_hosts" || label != "region" || !vars[1].Multi {
		t.Errorf("LabelValues = %q, %q, %v", metric, label, ok)
	}
	if _, _, ok := vars[0].LabelValues(); ok {
		t.Error("the datasource variable lists label values")
	}
	if got := References(boards[0].Panels[0].Targets[0].Expr); !slices.Equal(got, []string{"region"}) {
		t.Errorf("References = %v", got)
	}
	if _, err := Load(fstest.MapFS{"bad.json": {Data: []byte(`{"uid":`)}}); err == nil {
		t.Error("a broken dashboard loaded")
	}
	var q json.RawMessage = []byte(`"label_values(up, job)"`)
	if m, l, ok := (Variable{Query: q}).LabelValues(); !ok || m != "up" || l != "job" {
		t.Errorf("a query given as a string: %q, %q, %v", m, l, ok)
	}
}

func TestSubstitute(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`x{a=~"$a"}[$__range]`, `x{a=~".*"}[1h]`},
		{`rate(x{b="${b}"}[$__rate_interval])`, `rate(x{b="cpu"}[5m])`},
		{`x{c="$unknown"}`, `x{c="$unknown"}`},
	} {
		if got := Substitute(tc.in, map[string]string{"a": ".*", "b": "cpu"}); got != tc.want {
			t.Errorf("Substitute(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
