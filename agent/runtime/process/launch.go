package process

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vfleet/vfleet/agent/runtime"
	"github.com/vfleet/vfleet/controlplane/launch"
)

// launchConfig is how inst runs from dir on port. Its store's credentials
// travel in the environment, where no other user of the machine reads them.
func (r *Runtime) launchConfig(inst runtime.Instance, dir string, port int) launch.Config {
	cfg := launch.Config{
		Name: inst.Spec.VirtualCluster.Name, DataDir: dir, Address: r.opts.Address, Port: port,
		BinRoot: r.opts.BinRoot, KubernetesVersion: inst.Spec.KubernetesVersion,
		Lifeline: r.opts.Lifeline, OrphanGrace: r.opts.OrphanGrace, Backend: inst.Backend, Traceparent: inst.Traceparent,
	}
	if inst.Identity != nil {
		cfg.IdentityDir = filepath.Join(dir, identityDir)
	}
	if inst.Spec.ServerName != "" {
		// The region's gateway reaches the apiserver by this name.
		cfg.SANs = append(cfg.SANs, inst.Spec.ServerName)
	}
	if inst.Sync.HostServer != "" {
		// The syncer runs into the vcluster's host namespace, with the
		// credentials writeHostCredentials keeps in dir.
		ref := inst.Spec.VirtualCluster
		cfg.Syncer = launch.Syncer{
			HostNamespace: inst.Namespace, HostKubeconfig: filepath.Join(dir, hostKubeconfig),
			VClusterNamespace: ref.Namespace, VClusterUID: ref.UID, Isolation: inst.Spec.Isolation,
			HostsFileImage: r.opts.HostsFileImage,
		}
		cfg.ServiceCIDR = inst.Sync.ServiceCIDR
		cfg.DNS, cfg.DNSUpstreams = r.opts.DNS, r.opts.DNSUpstreams
	}
	return cfg
}

// syncerOptions are what a record keeps of cfg beyond its version and
// store: the syncer's settings and the certificate's names, as the flags
// agents have always recorded, so that an upgraded agent adopts what it
// finds. A change of them starts the control plane again.
func syncerOptions(cfg launch.Config) string {
	return strings.Join(launch.Config{Syncer: cfg.Syncer, ServiceCIDR: cfg.ServiceCIDR, DNS: cfg.DNS, DNSUpstreams: cfg.DNSUpstreams, SANs: cfg.SANs}.Args(), " ")
}

// Files of the syncer's host credentials in a control plane's directory,
// and the directory of the vcluster's identity.
const (
	identityDir    = "identity"
	hostKubeconfig = "host.kubeconfig"
	hostToken      = "host-token"
	hostCA         = "host-ca.crt"
)

// writeHostCredentials keeps the syncer's host kubeconfig in dir. The token
// is a file of its own, which client-go reads again as it changes: a
// renewed token needs no restart.
func writeHostCredentials(dir string, s runtime.Sync) error {
	if s.HostServer == "" {
		return nil
	}
	files := map[string][]byte{
		hostToken: []byte(s.HostToken),
		hostCA:    s.HostCA,
		hostKubeconfig: []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: host
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: syncer
  user:
    tokenFile: %s
contexts:
- name: host
  context: {cluster: host, user: syncer}
current-context: host
`, s.HostServer, filepath.Join(dir, hostCA), filepath.Join(dir, hostToken))),
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
			continue
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}
