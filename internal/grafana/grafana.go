// Package grafana reads vfleet's Grafana dashboards (the JSON files in
// dashboards/) for the checks of their queries: which variables each
// uses, and the query with them substituted.
package grafana

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
)

// Dashboard is the part of a Grafana dashboard the checks read.
type Dashboard struct {
	File       string `json:"-"`
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Panels []Panel `json:"panels"`
}

// Variable is a template variable.
type Variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Multi bool            `json:"multi"`
	Query json.RawMessage `json:"query"`
}

// Panel is one panel with its queries.
type Panel struct {
	ID         int             `json:"id"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    *struct{}       `json:"gridPos"`
	Targets    []Target        `json:"targets"`
}

// Target is one PromQL query of a panel.
type Target struct {
	Expr  string `json:"expr"`
	RefID string `json:"refId"`
}

// Load reads every dashboard (*.json) of dir.
func Load(dir fs.FS) ([]Dashboard, error) {
	names, err := fs.Glob(dir, "*.json")
	if err != nil {
		return nil, err
	}
	var out []Dashboard
	for _, name := range names {
		data, err := fs.ReadFile(dir, name)
		if err != nil {
			return nil, err
		}
		var d Dashboard
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		d.File = name
		out = append(out, d)
	}
	return out, nil
}

// QueryText is what a query variable asks Prometheus (label_values(...)).
func (v Variable) QueryText() string {
	var q struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &q) == nil && q.Query != "" {
		return q.Query
	}
	var s string
	_ = json.Unmarshal(v.Query, &s)
	return s
}

// varRef finds $name and ${name} references.
var varRef = regexp.MustCompile(`\$\{?(\w+)\}?`)

// Builtins are the variables Grafana itself defines, with the values the
// checks substitute for them.
var Builtins = map[string]string{"__rate_interval": "5m", "__range": "1h", "__interval": "1m"}

// References lists the variables expr uses.
func References(expr string) []string {
	var out []string
	for _, m := range varRef.FindAllStringSubmatch(expr, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// Substitute replaces every variable in expr: Grafana's built-ins by
// their values above, and the dashboard's own by values (a regex matcher's
// "all" is ".*").
func Substitute(expr string, values map[string]string) string {
	return varRef.ReplaceAllStringFunc(expr, func(ref string) string {
		name := strings.Trim(ref, "${}")
		if v, ok := Builtins[name]; ok {
			return v
		}
		if v, ok := values[name]; ok {
			return v
		}
		return ref
	})
}

// labelValues matches Grafana's label_values(metric, label).
var labelValues = regexp.MustCompile(`^\s*label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*(\w+)\s*\)\s*$`)

// LabelValues is the metric and label a label_values(metric, label)
// variable lists; false for another query.
func (v Variable) LabelValues() (metric, label string, ok bool) {
	m := labelValues.FindStringSubmatch(v.QueryText())
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}
