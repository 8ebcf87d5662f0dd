package architecture

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/vfleet/vfleet/"

// rule forbids the packages under from to depend, directly or not, on any
// package under one of the forbidden prefixes.
type rule struct {
	from      string
	forbidden []string
	why       string
}

// rules are the layers of docs/architecture.md. Prefixes are relative to
// the module and match a package and everything below it.
var rules = []rule{
	{"apis", []string{"agent", "cmd", "controllers", "controlplane", "federation", "gateway", "hub", "internal", "join", "lab", "placement", "stores", "syncer", "test"},
		"the API is the bottom layer"},
	{"internal", []string{"agent", "cmd", "controllers", "controlplane", "federation", "gateway", "hub", "join", "lab", "placement", "stores", "syncer", "test"},
		"internal packages are leaves every layer may use"},
	{"stores", []string{"agent", "cmd", "controllers", "controlplane", "federation", "gateway", "hub", "lab", "placement", "syncer", "test"},
		"store drivers serve both the hub and the control plane"},
	{"join", []string{"agent", "cmd", "controllers", "controlplane", "federation", "gateway", "hub", "lab", "placement", "stores", "syncer", "test"},
		"the join protocol is shared by the hub's server and the agent's client"},
	{"identity", []string{"agent", "cmd", "controllers", "controlplane", "federation", "gateway", "hub", "join", "lab", "placement", "stores", "syncer", "test"},
		"a vcluster's identity is made by the hub and used by its control planes"},
	{"syncer", []string{"agent", "cmd", "controllers", "controlplane", "federation", "gateway", "hub", "lab", "placement", "stores", "test"},
		"the syncer runs in every control plane and links nothing of the hub"},
	{"controlplane", []string{"agent", "cmd", "controllers", "federation", "gateway", "hub", "lab", "placement", "test"},
		"a control plane runs on a host and links nothing of the hub"},
	{"placement", []string{"agent", "cmd", "controllers", "controlplane", "federation", "gateway", "hub", "lab", "stores", "syncer", "test"},
		"placement is pure logic over a snapshot"},
	{"federation", []string{"agent", "cmd", "controllers", "controlplane", "gateway", "hub", "lab", "placement", "syncer", "test"},
		"the federation's ledger and raft peers sit below the hub that drives them"},
	{"controllers", []string{"agent", "cmd", "controlplane", "gateway", "hub", "lab", "syncer", "test"},
		"controllers sit below the hub that assembles them"},
	{"agent", []string{"cmd", "controllers", "federation", "gateway", "hub", "lab", "placement", "test"},
		"the agent is the hub's peer, not its client library"},
	{"hub", []string{"agent", "cmd", "controlplane", "gateway", "lab", "syncer", "test"},
		"the hub is the agent's peer and runs no control plane"},
	{"gateway", []string{"agent", "cmd", "controllers", "controlplane", "federation", "hub", "identity", "join", "lab", "placement", "stores", "syncer", "test"},
		"the gateway is the hub's and agent's peer: it reads routes from the API and holds no credential of a vcluster"},
	{"lab", []string{"cmd", "test"},
		"the lab is product code the vfleet binary links"},
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg, _ := strings.CutPrefix(fields[0], module)
		for _, d := range fields[1:] {
			if d, ok := strings.CutPrefix(d, module); ok {
				deps[pkg] = append(deps[pkg], d)
			}
		}
		if _, ok := deps[pkg]; !ok {
			deps[pkg] = nil
		}
	}
	if len(deps) < 20 {
		t.Fatalf("go list found %d packages of the module: is the test running inside it?", len(deps))
	}
	checked := 0
	for _, r := range rules {
		for pkg, ds := range deps {
			if !under(pkg, r.from) {
				continue
			}
			checked++
			for _, d := range ds {
				for _, f := range r.forbidden {
					if under(d, f) {
						t.Errorf("%s depends on %s: %s", pkg, d, r.why)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package matched any rule")
	}
}

// under says whether pkg is prefix or below it.
func under(pkg, prefix string) bool {
	return pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
}

func TestUnder(t *testing.T) {
	for _, tc := range []struct {
		pkg, prefix string
		want        bool
	}{
		{"hub", "hub", true},
		{"hub/joinserver", "hub", true},
		{"hubble", "hub", false},
		{"agent/runtime/process", "agent", true},
		{"apis", "apis/fleet", false},
	} {
		if got := under(tc.pkg, tc.prefix); got != tc.want {
			t.Errorf("under(%q, %q) = %v, want %v", tc.pkg, tc.prefix, got, tc.want)
		}
	}
}
