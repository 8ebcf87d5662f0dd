package config

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestGeneratedFilesMatchTheTypes regenerates deepcopy code and CRDs from
// apis/ into a scratch directory and fails if the committed files differ.
func TestGeneratedFilesMatchTheTypes(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cg := filepath.Join(root, "bin", "controller-gen")
	if _, err := os.Stat(cg); err != nil {
		t.Fatalf("%s is missing: run \"make controller-gen\" (make test does)", cg)
	}
	out := t.TempDir()
	for _, args := range [][]string{
		{"object", "paths=./apis/...", "output:object:dir=" + filepath.Join(out, "object")},
		{"crd", "paths=./apis/...", "output:crd:dir=" + filepath.Join(out, "crd")},
		{"rbac:roleName=vfleet-hub", "paths=./controllers/...", "paths=./hub/...", "output:rbac:dir=" + filepath.Join(out, "rbac")},
		{"rbac:roleName=vfleet-gateway", "paths=./gateway/...", "output:rbac:dir=" + filepath.Join(out, "gateway")},
	} {
		cmd := exec.Command(cg, args...)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("controller-gen %v: %v\n%s", args, err, msg)
		}
	}

	compare := func(generated, committed string) {
		t.Helper()
		want, err := os.ReadFile(generated)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(committed)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s does not match the types in apis/: run \"make generate\" and commit the result", committed)
		}
	}
	compare(filepath.Join(out, "object", "zz_generated.deepcopy.go"), filepath.Join(root, "apis", "fleet", "v1alpha1", "zz_generated.deepcopy.go"))

	compare(filepath.Join(out, "rbac", "role.yaml"), filepath.Join(root, "config", "rbac", "role.yaml"))
	compare(filepath.Join(out, "gateway", "role.yaml"), filepath.Join(root, "config", "rbac", "gateway", "role.yaml"))

	generated, _ := filepath.Glob(filepath.Join(out, "crd", "*.yaml"))
	committed, _ := filepath.Glob(filepath.Join(root, "config", "crd", "*.yaml"))
	if len(generated) != len(committed) {
		t.Errorf("config/crd has %d CRDs, the types make %d: run \"make generate\"", len(committed), len(generated))
	}
	for _, g := range generated {
		compare(g, filepath.Join(root, "config", "crd", filepath.Base(g)))
	}
}

func TestHubClusterRole(t *testing.T) {
	role, err := HubClusterRole()
	if err != nil {
		t.Fatal(err)
	}
	if role.Name != "vfleet-hub" || len(role.Rules) == 0 {
		t.Fatalf("role %s with %d rules", role.Name, len(role.Rules))
	}
}

// The gateway reads VirtualClusters and writes only Leases of the hub's
// namespace: nothing of a vcluster's credentials, nothing cluster-wide.
func TestGatewayRoles(t *testing.T) {
	cluster, role, err := GatewayRoles()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range cluster.Rules {
		for _, res := range r.Resources {
			if res == "secrets" || (res == "virtualclusters" && slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" })) {
				t.Errorf("the gateway's ClusterRole allows %v on %s", r.Verbs, res)
			}
		}
	}
	if role.Namespace != "vfleet-system" || len(role.Rules) != 1 || !slices.Equal(role.Rules[0].Resources, []string{"leases"}) {
		t.Errorf("the gateway's Role: %s/%s %+v; want leases in vfleet-system only", role.Namespace, role.Name, role.Rules)
	}
}

func TestCRDsParse(t *testing.T) {
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range crds {
		names[c.Spec.Names.Kind] = true
	}
	for _, kind := range []string{"HostCluster", "VirtualCluster", "VirtualClusterClass", "ControlPlane", "BackingStore", "VirtualClusterMirror"} {
		if !names[kind] {
			t.Errorf("no CRD for %s", kind)
		}
	}
}
