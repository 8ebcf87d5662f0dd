package realnode

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/pki"
	"github.com/vfleet/vfleet/internal/procgroup"
)

// Proxy is the machine's kube-proxy, in iptables mode: Services of the
// host cluster whose real nodes run here. There is one per machine, since
// its chains (KUBE-SERVICES and the rest) are the machine's.
type Proxy struct {
	// Dir holds its configuration and log.
	Dir       string
	K8sBinDir string
	// Server and CA are the host cluster's apiserver and CA.
	Server string
	CA     *pki.CA
	// NodeName is the node it speaks for, for Services that keep traffic
	// on the node.
	NodeName string
	// HealthzPort and MetricsPort serve on loopback.
	HealthzPort, MetricsPort int
}

func (p Proxy) file(name string) string { return filepath.Join(p.Dir, name) }

// Log is kube-proxy's log.
func (p Proxy) Log() string { return p.file("kube-proxy.log") }

// Prepare writes kube-proxy's identity (system:kube-proxy, which Kubernetes
// binds to system:node-proxier) and configuration, and records it as the
// machine's kube-proxy.
func (p Proxy) Prepare() error {
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return err
	}
	kp, err := p.CA.Issue(pki.Request{CommonName: "system:kube-proxy", Usage: pki.ClientAuth})
	if err != nil {
		return err
	}
	if err := kubeconfig.Write(p.file("kube-proxy.kubeconfig"), kubeconfig.Identity{
		Cluster: "lab", Server: p.Server, CAPEM: p.CA.CertPEM(), User: "system:kube-proxy", CertPEM: kp.CertPEM, KeyPEM: kp.KeyPEM,
	}); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := proxyConfig.Execute(&buf, p); err != nil {
		return err
	}
	if err := os.WriteFile(p.file("kube-proxy.yaml"), buf.Bytes(), 0o600); err != nil {
		return err
	}
	// Recorded before it runs, so that whoever cleans up after it, even
	// after a SIGKILL of its lab, takes its rules out with the same binary.
	if err := os.MkdirAll(filepath.Dir(proxyMarker), 0o755); err != nil {
		return err
	}
	return os.WriteFile(proxyMarker, []byte(filepath.Join(p.K8sBinDir, "kube-proxy")), 0o600)
}

// Spec runs kube-proxy.
func (p Proxy) Spec() procgroup.Spec {
	return procgroup.Spec{
		Name: "kube-proxy", Path: filepath.Join(p.K8sBinDir, "kube-proxy"),
		Args:    []string{"--config=" + p.file("kube-proxy.yaml"), "--hostname-override=" + p.NodeName},
		Env:     []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Dir:     p.Dir,
		LogFile: p.Log(),
	}
}

// Healthz is kube-proxy's health endpoint.
func (p Proxy) Healthz() string {
	return "http://127.0.0.1:" + strconv.Itoa(p.HealthzPort) + "/healthz"
}

// proxyMarker names the kube-proxy binary that last ran on this machine,
// while its rules may still be in place.
const proxyMarker = "/run/vfleet/kube-proxy"

// CleanupProxy takes out the rules of the kube-proxy that last ran here
// (kube-proxy --cleanup), once it is stopped. Without one on record it does
// nothing.
func CleanupProxy(ctx context.Context) error {
	bin, err := os.ReadFile(proxyMarker)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, string(bin), "--cleanup")
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	// It reports a failure when a backend it also tries (ipvs, nftables)
	// is not there, and leaves KUBE-FIREWALL (its guard against martian
	// localhost packets) behind: what counts is that no KUBE- chain is
	// left once the rest are taken out below.
	out, cleanupErr := cmd.CombinedOutput()
	for _, family := range []string{"iptables", "ip6tables"} {
		if err := removeKubeChains(ctx, family); err != nil {
			return err
		}
	}
	if chains := ProxyChains(); len(chains) > 0 {
		return fmt.Errorf("KUBE- chains are left after kube-proxy --cleanup (%v: %s): %v", cleanupErr, lastLines(out, 5), chains)
	}
	return os.Remove(proxyMarker)
}

// removeKubeChains deletes every KUBE- chain of family (iptables or
// ip6tables), and the rules of other chains that jump to them, in one
// iptables-restore per table.
func removeKubeChains(ctx context.Context, family string) error {
	for _, table := range []string{"filter", "nat", "mangle"} {
		data, err := exec.CommandContext(ctx, family+"-save", "-t", table).Output()
		if err != nil {
			continue
		}
		var chains, jumps []string
		for _, line := range strings.Split(string(data), "\n") {
			switch {
			case strings.HasPrefix(line, ":KUBE-"):
				chains = append(chains, strings.Fields(line[1:])[0])
			case strings.HasPrefix(line, "-A ") && !strings.HasPrefix(line, "-A KUBE-") && strings.Contains(line, "-j KUBE-"):
				jumps = append(jumps, "-D "+line[3:])
			}
		}
		if len(chains) == 0 {
			continue
		}
		script := []string{"*" + table}
		script = append(script, jumps...)
		for _, c := range chains {
			script = append(script, "-F "+c)
		}
		for _, c := range chains {
			script = append(script, "-X "+c)
		}
		script = append(script, "COMMIT", "")
		restore := exec.CommandContext(ctx, family+"-restore", "--noflush")
		restore.Stdin = strings.NewReader(strings.Join(script, "\n"))
		if out, err := restore.CombinedOutput(); err != nil {
			return fmt.Errorf("%s-restore (table %s): %v: %s", family, table, err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// ProxyChains lists the KUBE- chains in the machine's iptables and
// ip6tables, by table.
func ProxyChains() []string {
	var out []string
	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		for _, table := range []string{"filter", "nat", "mangle"} {
			data, err := exec.Command(save, "-t", table).Output()
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(line, ":KUBE-") {
					out = append(out, strings.TrimSuffix(save, "-save")+"/"+table+"/"+strings.Fields(line[1:])[0])
				}
			}
		}
	}
	return out
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// proxyConfig: iptables mode for the real nodes' pod range. conntrack's
// limits are left as the machine has them (maxPerCore 0): the lab's
// sandbox may not change them.
var proxyConfig = template.Must(template.New("kube-proxy").Funcs(funcs).Parse(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {{quote (printf "%s/kube-proxy.kubeconfig" .Dir)}}
mode: iptables
clusterCIDR: {{quote "` + ClusterCIDR + `"}}
bindAddress: 127.0.0.1
healthzBindAddress: {{quote (printf "127.0.0.1:%d" .HealthzPort)}}
metricsBindAddress: {{quote (printf "127.0.0.1:%d" .MetricsPort)}}
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`))
