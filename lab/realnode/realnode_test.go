package realnode

import (
	"bytes"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		"/var/lib/kubelet":         "/var/lib/kubelet",
		`/tmp/a\040b`:              "/tmp/a b",
		`/tmp/tab\011and\134slash`: "/tmp/tab\tand\\slash",
		`/tmp/not\0an\escape`:      `/tmp/not\0an\escape`,
		`/tmp/ends\04`:             `/tmp/ends\04`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConfigurations renders the node's configurations and reads them back
// as what their programs parse: every setting a node on this machine needs
// is there, in the place the program looks for it.
func TestConfigurations(t *testing.T) {
	c := Config{Name: "host-1-real-2", Index: 2, Dir: "/lab/nodes/host-1-real-2", CNIBinDir: "/usr/lib/cni", KubeletPort: 10250, HealthzPort: 10248,
		ClusterDNS: "10.96.0.10", Taints: []corev1.Taint{{Key: "lab.vfleet.dev/real-node", Value: "true", Effect: corev1.TaintEffectNoSchedule}}}
	render := func(name string) string {
		var buf bytes.Buffer
		switch name {
		case "kubelet":
			if err := kubeletConfig.Execute(&buf, c.view()); err != nil {
				t.Fatal(err)
			}
		case "containerd":
			if err := containerdConfig.Execute(&buf, c.view()); err != nil {
				t.Fatal(err)
			}
		case "cni":
			if err := cniConfig.Execute(&buf, c.view()); err != nil {
				t.Fatal(err)
			}
		}
		return buf.String()
	}

	var kubelet map[string]any
	if err := yaml.Unmarshal([]byte(render("kubelet")), &kubelet); err != nil {
		t.Fatalf("kubelet configuration: %v", err)
	}
	for key, want := range map[string]any{
		"failCgroupV1": false, "cgroupDriver": "cgroupfs", "cgroupRoot": "/vfleet/host-1-real-2", "address": "10.245.2.1",
		"readOnlyPort": float64(0), "makeIPTablesUtilChains": false, "podLogsDir": "/lab/nodes/host-1-real-2/pod-logs",
	} {
		if kubelet[key] != want {
			t.Errorf("kubelet %s = %v, want %v", key, kubelet[key], want)
		}
	}
	if taints, ok := kubelet["registerWithTaints"].([]any); !ok || len(taints) != 1 {
		t.Errorf("kubelet registerWithTaints = %v", kubelet["registerWithTaints"])
	}

	containerd := render("containerd")
	for _, want := range []string{
		`restrict_oom_score_adj = true`, `address = "/run/vfleet/nodes/host-1-real-2/containerd.sock"`,
		`Root = "/run/vfleet/nodes/host-1-real-2/state/runc"`, `netns_mounts_under_state_dir = true`, `disable = true`,
	} {
		if !strings.Contains(containerd, want) {
			t.Errorf("containerd configuration lacks %s:\n%s", want, containerd)
		}
	}

	var cni struct {
		Plugins []struct {
			Type   string `json:"type"`
			Bridge string `json:"bridge"`
			IPMasq bool   `json:"ipMasq"`
			IPAM   struct {
				DataDir string `json:"dataDir"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := yaml.Unmarshal([]byte(render("cni")), &cni); err != nil {
		t.Fatalf("CNI configuration: %v", err)
	}
	if len(cni.Plugins) != 1 || cni.Plugins[0].Bridge != "vfleet-br2" || cni.Plugins[0].IPMasq || cni.Plugins[0].IPAM.DataDir != "/lab/nodes/host-1-real-2/cni/ipam" {
		t.Errorf("CNI configuration: %+v", cni)
	}
}
