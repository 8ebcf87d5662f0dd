// Package realnode runs real Kubernetes nodes on this machine for the lab:
// a containerd and a kubelet per node, runc underneath, a bridge CNI
// network per node, and one kube-proxy per machine. Containers really run
// on them.
//
// A node touches the machine beyond its directory: a bridge, cgroups,
// mounts, iptables rules (kube-proxy's), sockets under /run. Cleanup
// removes all of it from the node's name and directory alone, so that a
// lab that was SIGKILLed is cleaned up by the next one as well as by
// `lab down`. Only one lab on a machine may run real nodes at a time
// (Lock): kube-proxy's iptables chains are machine-wide.
package realnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/pki"
	"github.com/vfleet/vfleet/internal/procgroup"
)

// Addresses of real nodes: node i has the pod range 10.245.i.0/24 on its
// bridge, and the bridge's 10.245.i.1 is its InternalIP, where the
// apiserver reaches its kubelet. kwok nodes use 10.244.0.0/16.
const (
	// ClusterCIDR holds every real node's pods.
	ClusterCIDR = "10.245.0.0/16"
	// MaxIndex bounds Config.Index.
	MaxIndex = 254
)

// LabelKind tells real nodes from kwok nodes: tests pick one with a node
// selector.
const (
	LabelKind = "lab.vfleet.dev/node-kind"
	KindReal  = "real"
	KindKwok  = "kwok"
)

// runDir holds what must be under /run: unix sockets (their paths are
// limited to 108 bytes, which a test's temporary directory can pass) and
// containerd's state.
const runDir = "/run/vfleet/nodes"

// Config is one real node.
type Config struct {
	// Name is the node's name; it names its files under /run and its
	// cgroups too, so it must be unique on the machine.
	Name string
	// Index, 1..MaxIndex, picks the node's bridge and addresses.
	Index int
	// Dir holds the node's certificates, configuration, kubelet and
	// containerd data, and logs.
	Dir string
	// K8sBinDir holds kubelet and kube-proxy; ContainerdBinDir
	// containerd, its shim and ctr; CNIBinDir the CNI plugins.
	K8sBinDir, ContainerdBinDir, CNIBinDir string
	// Images are image archives imported before the kubelet starts.
	Images []string
	// Server is the host cluster's apiserver, and CA its cluster CA, which
	// issues the node's certificates.
	Server string
	CA     *pki.CA
	// KubeletPort serves the kubelet's API (logs, exec) on NodeIP;
	// HealthzPort its /healthz on loopback.
	KubeletPort, HealthzPort int
	// Labels and Taints are the node's, as the kubelet registers them.
	Labels map[string]string
	Taints []corev1.Taint
	// ClusterDNS is the address pods resolve names with; empty leaves
	// them the machine's resolver.
	ClusterDNS string
}

// NodeIP is where the node's kubelet serves, and the gateway of its pods.
func (c Config) NodeIP() net.IP { return net.IPv4(10, 245, byte(c.Index), 1) }

// PodCIDR is the node's pod range.
func (c Config) PodCIDR() string { return fmt.Sprintf("10.245.%d.0/24", c.Index) }

// Bridge is the node's bridge device.
func (c Config) Bridge() string { return "vfleet-br" + strconv.Itoa(c.Index) }

// CgroupRoot is where the kubelet puts the node's pods, under every
// cgroup controller.
func (c Config) CgroupRoot() string { return "/vfleet/" + c.Name }

func (c Config) run() string             { return filepath.Join(runDir, c.Name) }
func (c Config) socket() string          { return filepath.Join(c.run(), "containerd.sock") }
func (c Config) file(name string) string { return filepath.Join(c.Dir, name) }

// ContainerdLog and KubeletLog are the processes' logs.
func (c Config) ContainerdLog() string { return c.file("containerd.log") }
func (c Config) KubeletLog() string    { return c.file("kubelet.log") }

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" || strings.ContainsAny(c.Name, "/ ") {
		errs = append(errs, fmt.Errorf("node name %q: want a DNS label", c.Name))
	}
	if c.Index < 1 || c.Index > MaxIndex {
		errs = append(errs, fmt.Errorf("node %s: index %d is not in 1..%d", c.Name, c.Index, MaxIndex))
	}
	if c.CA == nil || c.Server == "" {
		errs = append(errs, fmt.Errorf("node %s: needs its cluster's apiserver and CA", c.Name))
	}
	for _, bin := range []string{filepath.Join(c.K8sBinDir, "kubelet"), filepath.Join(c.ContainerdBinDir, "containerd"),
		filepath.Join(c.ContainerdBinDir, "containerd-shim-runc-v2"), filepath.Join(c.ContainerdBinDir, "ctr"),
		filepath.Join(c.CNIBinDir, "bridge"), filepath.Join(c.CNIBinDir, "host-local"), filepath.Join(c.CNIBinDir, "loopback")} {
		if _, err := os.Stat(bin); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %s is missing: run `make binaries node-packages`", c.Name, bin))
		}
	}
	if _, err := exec.LookPath("runc"); err != nil {
		errs = append(errs, fmt.Errorf("node %s: runc is not installed: run `make node-packages`", c.Name))
	}
	return errors.Join(errs...)
}

// Prepare writes the node's certificates and configuration, and makes its
// bridge, so that containerd and the kubelet can start. It is idempotent.
func (c Config) Prepare() error {
	if err := c.Validate(); err != nil {
		return err
	}
	for _, d := range []string{c.Dir, c.file("pki"), c.file("cni/net.d"), c.file("cni/ipam"), c.file("kubelet"), c.file("pod-logs"), c.run()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := c.writeRecord(); err != nil {
		return err
	}
	if err := c.writePKI(); err != nil {
		return fmt.Errorf("node %s: certificates: %w", c.Name, err)
	}
	for name, tmpl := range map[string]*template.Template{
		"containerd.toml":            containerdConfig,
		"kubelet.yaml":               kubeletConfig,
		"cni/net.d/10-pods.conflist": cniConfig,
	} {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, c.view()); err != nil {
			return err
		}
		if err := os.WriteFile(c.file(name), buf.Bytes(), 0o600); err != nil {
			return err
		}
	}
	if err := ensureCgroup(c.CgroupRoot()); err != nil {
		return fmt.Errorf("node %s: cgroup %s: %w", c.Name, c.CgroupRoot(), err)
	}
	if err := c.ensureBridge(); err != nil {
		return fmt.Errorf("node %s: bridge %s: %w", c.Name, c.Bridge(), err)
	}
	return nil
}

// writePKI issues the kubelet's client identity (system:node:<name>, which
// the Node authorizer limits to its own node) and its serving certificate
// for NodeIP, which the apiserver verifies.
func (c Config) writePKI() error {
	dir := c.file("pki")
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), c.CA.CertPEM(), 0o644); err != nil {
		return err
	}
	if err := pki.IssueAll(dir, []pki.Issue{{File: "kubelet", CA: c.CA, Request: pki.Request{
		CommonName: c.Name, DNSNames: []string{c.Name}, IPs: []net.IP{c.NodeIP()}, Usage: pki.ServerAuth,
	}}}); err != nil {
		return err
	}
	kp, err := c.CA.Issue(pki.Request{CommonName: "system:node:" + c.Name, Organization: []string{"system:nodes"}, Usage: pki.ClientAuth})
	if err != nil {
		return err
	}
	return kubeconfig.Write(c.file("kubelet.kubeconfig"), kubeconfig.Identity{
		Cluster: "lab", Server: c.Server, CAPEM: c.CA.CertPEM(), User: "system:node:" + c.Name, CertPEM: kp.CertPEM, KeyPEM: kp.KeyPEM,
	})
}

// ensureBridge makes the node's bridge with NodeIP on it before the
// kubelet starts (the CNI plugin would make it only with the first pod),
// and lets the machine route between bridges, as between nodes.
func (c Config) ensureBridge() error {
	if _, err := net.InterfaceByName(c.Bridge()); err != nil {
		if err := ip("link", "add", c.Bridge(), "type", "bridge"); err != nil {
			return err
		}
	}
	if err := ip("addr", "replace", c.NodeIP().String()+"/24", "dev", c.Bridge()); err != nil {
		return err
	}
	if err := ip("link", "set", c.Bridge(), "up"); err != nil {
		return err
	}
	return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// view is what the configuration templates read.
type view struct {
	Config
	NodeIPString, Socket, State, ImagesPause string
}

func (c Config) view() view {
	return view{Config: c, NodeIPString: c.NodeIP().String(), Socket: c.socket(), State: filepath.Join(c.run(), "state"), ImagesPause: PauseImage}
}

// PauseImage is the sandbox image; it must be among Images.
const PauseImage = "registry.k8s.io/pause:3.10.2"

// ContainerdSpec runs the node's containerd.
func (c Config) ContainerdSpec() procgroup.Spec {
	return procgroup.Spec{
		Name: c.Name + "/containerd", Path: filepath.Join(c.ContainerdBinDir, "containerd"),
		Args: []string{"--config", c.file("containerd.toml")},
		// containerd finds its shim, and the shim runc, on PATH.
		Env:     []string{"PATH=" + c.ContainerdBinDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Dir:     c.Dir,
		LogFile: c.ContainerdLog(),
	}
}

// ContainerdReady reports whether containerd answers on its socket.
func (c Config) ContainerdReady(ctx context.Context) error {
	_, err := c.ctr(ctx, "version")
	return err
}

// ImportImages imports the node's images into containerd's k8s.io
// namespace, where the kubelet finds them. It runs before the kubelet
// starts, so the node is never Ready without them.
func (c Config) ImportImages(ctx context.Context) error {
	for _, img := range c.Images {
		if _, err := c.ctr(ctx, "-n", "k8s.io", "images", "import", img); err != nil {
			return fmt.Errorf("node %s: import %s: %w", c.Name, filepath.Base(img), err)
		}
	}
	return nil
}

func (c Config) ctr(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.ContainerdBinDir, "ctr"), append([]string{"--address", c.socket()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ctr %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// KubeletSpec runs the node's kubelet.
func (c Config) KubeletSpec() procgroup.Spec {
	var labels []string
	for k, v := range c.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	return procgroup.Spec{
		Name: c.Name + "/kubelet", Path: filepath.Join(c.K8sBinDir, "kubelet"),
		Args: []string{
			"--config=" + c.file("kubelet.yaml"),
			"--kubeconfig=" + c.file("kubelet.kubeconfig"),
			"--root-dir=" + c.file("kubelet"),
			"--hostname-override=" + c.Name,
			"--node-ip=" + c.NodeIP().String(),
			"--node-labels=" + strings.Join(labels, ","),
		},
		Env:     []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Dir:     c.Dir,
		LogFile: c.KubeletLog(),
	}
}

// KubeletHealthz is the kubelet's health endpoint.
func (c Config) KubeletHealthz() string {
	return "http://127.0.0.1:" + strconv.Itoa(c.HealthzPort) + "/healthz"
}

var funcs = template.FuncMap{"quote": strconv.Quote}

// containerdConfig: the CRI with runc, cgroupfs, the node's CNI network,
// its own root, state and socket, and nothing of containerd's that would
// be shared between two nodes on one machine (NRI, /opt, netns under
// /run/netns). runc cannot lower oom_score_adj without CAP_SYS_RESOURCE,
// which the lab's sandbox lacks: restrict_oom_score_adj keeps it from
// trying.
var containerdConfig = template.Must(template.New("containerd").Funcs(funcs).Parse(`version = 3
root = {{quote (printf "%s/containerd" .Dir)}}
state = {{quote .State}}

[grpc]
  address = {{quote .Socket}}

[ttrpc]
  address = {{quote (printf "%s.ttrpc" .Socket)}}

[plugins."io.containerd.internal.v1.opt"]
  path = {{quote (printf "%s/opt" .Dir)}}

[plugins."io.containerd.nri.v1.nri"]
  disable = true

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = {{quote .ImagesPause}}

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [{{quote .CNIBinDir}}]
    conf_dir = {{quote (printf "%s/cni/net.d" .Dir)}}
    max_conf_num = 1
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = {{quote (printf "%s/runc" .State)}}
`))

// kubeletConfig: cgroups v1 with cgroupfs (this machine's), webhook
// authentication and authorization of whoever calls its API (the
// apiserver, for logs and exec), and no image garbage collection: the
// images were imported, and nothing could pull them again. Its iptables
// chains (hint, canary, firewall) are left out: only kube-proxy writes
// rules, and its cleanup takes them all out.
var kubeletConfig = template.Must(template.New("kubelet").Funcs(funcs).Parse(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: {{quote .CgroupRoot}}
containerRuntimeEndpoint: {{quote (printf "unix://%s" .Socket)}}
address: {{quote .NodeIPString}}
port: {{.KubeletPort}}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {{.HealthzPort}}
tlsCertFile: {{quote (printf "%s/pki/kubelet.crt" .Dir)}}
tlsPrivateKeyFile: {{quote (printf "%s/pki/kubelet.key" .Dir)}}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {{quote (printf "%s/pki/ca.crt" .Dir)}}
authorization:
  mode: Webhook
podLogsDir: {{quote (printf "%s/pod-logs" .Dir)}}
clusterDomain: cluster.local
{{- if .ClusterDNS}}
clusterDNS: [{{quote .ClusterDNS}}]
{{- end}}
failSwapOn: false
makeIPTablesUtilChains: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
maxPods: 110
serializeImagePulls: false
{{- if .Taints}}
registerWithTaints:
{{- range .Taints}}
- key: {{quote .Key}}
  value: {{quote .Value}}
  effect: {{quote (print .Effect)}}
{{- end}}
{{- end}}
`))

// cniConfig: a bridge per node with the node's pod range; its allocations
// are kept in the node's directory, not /var/lib/cni. No masquerade and no
// host ports, which would leave iptables rules of the CNI plugins' own:
// pods reach each other and Services (kube-proxy), not the world.
var cniConfig = template.Must(template.New("cni").Funcs(funcs).Parse(`{
  "cniVersion": "1.0.0",
  "name": {{quote .Name}},
  "plugins": [
    {
      "type": "bridge",
      "bridge": {{quote .Bridge}},
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": {{quote (printf "%s/cni/ipam" .Dir)}},
        "ranges": [[{"subnet": {{quote .PodCIDR}}, "gateway": {{quote .NodeIPString}}}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
`))
