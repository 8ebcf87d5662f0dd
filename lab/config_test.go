package lab

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
)

func TestValidate(t *testing.T) {
	good := func() Config { return Config{Dir: "/tmp/x", Hosts: DefaultHosts(3, 2)} }
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings of the error; none means valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"management only", func(c *Config) { c.Hosts = nil }, nil},
		{"no dir", func(c *Config) { c.Dir = "" }, []string{"lab directory is empty"}},
		{"duplicate host", func(c *Config) { c.Hosts[1].Name = "host-1" }, []string{`host 2 ("host-1"): name is already taken`}},
		{"host named management", func(c *Config) { c.Hosts[0].Name = "management" }, []string{"already taken"}},
		{"bad name", func(c *Config) { c.Hosts[0].Name = "Host_1" }, []string{`host 1 ("Host_1"): name:`}},
		{"no nodes", func(c *Config) { c.Hosts[2].Nodes = 0 }, []string{"host 3", "at least 1 node"}},
		{"zero cpu", func(c *Config) { c.Hosts[0].Node.CPU = resource.Quantity{} }, []string{"cpu, memory and pods must be positive"}},
		{"no zone", func(c *Config) { c.Hosts[0].Zone = "" }, []string{"region and zone are required"}},
		{"port base too low", func(c *Config) { c.PortBase = 80 }, []string{"port base 80"}},
		{"port base too high", func(c *Config) { c.PortBase = 65530 }, []string{"port base 65530"}},
		{"too many hosts", func(c *Config) { c.Hosts = DefaultHosts(255, 1) }, []string{"255 hosts: a lab has at most 254"}},
		{"every problem at once", func(c *Config) { c.Dir = ""; c.Hosts[0].Nodes = 0 }, []string{"lab directory is empty", "at least 1 node"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDefaultHostsSpreadOverTwoRegions(t *testing.T) {
	hosts := DefaultHosts(3, 2)
	regions := map[string]int{}
	zones := map[string]bool{}
	for _, h := range hosts {
		regions[h.Region]++
		if zones[h.Zone] {
			t.Errorf("zone %s used twice", h.Zone)
		}
		zones[h.Zone] = true
		if h.Nodes != 2 {
			t.Errorf("%s: %d nodes", h.Name, h.Nodes)
		}
	}
	if len(regions) != 2 {
		t.Fatalf("regions %v, want 2", regions)
	}
}

func TestPortsNeeded(t *testing.T) {
	// management: etcd client+peer, apiserver, controller-manager,
	// postgres, the etcd store's client+peer, hub join+health+metrics,
	// gateway listen+health+metrics;
	// host: etcd client+peer, apiserver,
	// controller-manager, scheduler, kwok, agent health+metrics, and a
	// range for its vclusters' apiservers.
	c := Config{Hosts: DefaultHosts(3, 1)}
	if got, want := c.portsNeeded(), 13+3*(8+controlPlanePorts); got != want {
		t.Fatalf("portsNeeded = %d, want %d", got, want)
	}
}

func TestCheckBinariesSaysHowToFix(t *testing.T) {
	dir := t.TempDir()
	err := checkBinaries(dir, binaries)
	if err == nil || !strings.Contains(err.Error(), `run "make binaries"`) || !strings.Contains(err.Error(), "etcd not found in "+dir) {
		t.Fatalf("error %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etcd"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkBinaries(dir, []string{"etcd"}); err == nil || !strings.Contains(err.Error(), "not an executable") {
		t.Fatalf("non-executable: %v", err)
	}
}

// TestKwokStages checks that the shipped stages are well-formed Stage
// objects covering the node and pod lifecycles kwok needs.
func TestKwokStages(t *testing.T) {
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(string(kwokStages)), 4096)
	kinds := map[string][]string{}
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); err != nil {
			break
		}
		if obj.GetKind() != "Stage" || obj.GetAPIVersion() != "kwok.x-k8s.io/v1alpha1" {
			t.Fatalf("%s: kind %s/%s", obj.GetName(), obj.GetAPIVersion(), obj.GetKind())
		}
		kind, _, _ := unstructured.NestedString(obj.Object, "spec", "resourceRef", "kind")
		kinds[kind] = append(kinds[kind], obj.GetName())
	}
	if len(kinds["Node"]) != 2 || len(kinds["Pod"]) != 3 {
		t.Fatalf("stages by kind: %v, want 2 node and 3 pod stages", kinds)
	}
}

// TestMainModulePins keeps the main module on the versions the project
// chose to agree with each other; `go mod tidy` would otherwise move a
// dependency to its latest release the moment it is first imported.
func TestMainModulePins(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for module, want := range map[string]string{
		"k8s.io/api":                     "v0.36.3",
		"k8s.io/apimachinery":            "v0.36.3",
		"k8s.io/client-go":               "v0.36.3",
		"k8s.io/apiextensions-apiserver": "v0.36.3",
		"sigs.k8s.io/controller-runtime": "v0.24.1",
	} {
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + ` (v\S+)`).FindSubmatch(mod)
		if m == nil {
			t.Errorf("go.mod does not require %s", module)
			continue
		}
		if string(m[1]) != want {
			t.Errorf("go.mod requires %s %s, the project pins %s", module, m[1], want)
		}
	}
}
