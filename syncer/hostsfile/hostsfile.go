// Package hostsfile writes a vcluster pod's /etc/hosts as a kubelet of the
// vcluster would: the pod's addresses under its hostname and, with a
// subdomain, its name in the vcluster's DNS. The host's kubelet writes the
// host copy's names there instead (the host namespace's, the translated
// subdomain's), which no one in the vcluster resolves: a StatefulSet
// member that advertises `hostname -f` would be unreachable. A helper
// init container runs this in the host copy, and every container mounts
// what it wrote.
package hostsfile

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
)

// Header opens the file, as the kubelet's does: tools tell a managed file
// by it.
const Header = "# Kubernetes-managed hosts file."

// PodIPsEnv holds the pod's addresses, comma-separated, as the downward
// API gives status.podIPs.
const PodIPsEnv = "VFLEET_POD_IPS"

// Entries is what the file says beyond the pod's addresses.
type Entries struct {
	// Hostname is the pod's hostname; FQDN its name under its subdomain,
	// empty without one.
	Hostname, FQDN string
	// Aliases are the pod's host aliases, after the pod's own entries.
	Aliases []corev1.HostAlias
}

// Render is the file for a pod of podIPs.
func Render(podIPs []string, e Entries) []byte {
	var b bytes.Buffer
	b.WriteString(Header + "\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	for _, ip := range podIPs {
		if e.FQDN != "" {
			fmt.Fprintf(&b, "%s\t%s\t%s\n", ip, e.FQDN, e.Hostname)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, e.Hostname)
		}
	}
	if len(e.Aliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range e.Aliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.Bytes()
}

// Args is the command line that writes e's file to out.
func Args(out string, e Entries) []string {
	args := []string{"--out=" + out, "--hostname=" + e.Hostname}
	if e.FQDN != "" {
		args = append(args, "--fqdn="+e.FQDN)
	}
	for _, a := range e.Aliases {
		args = append(args, "--alias="+a.IP+"="+strings.Join(a.Hostnames, ","))
	}
	return args
}

// Command is the parsed command line of Args.
type Command struct {
	Out     string
	Entries Entries
	aliases []string
}

// AddFlags binds c to Args' flags.
func (c *Command) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Out, "out", "", "file to write")
	fs.StringVar(&c.Entries.Hostname, "hostname", "", "the pod's hostname")
	fs.StringVar(&c.Entries.FQDN, "fqdn", "", "the pod's name under its subdomain")
	fs.StringArrayVar(&c.aliases, "alias", nil, "IP=name[,name...], a host alias")
}

// Run writes the file for the addresses in $PodIPsEnv.
func (c *Command) Run() error {
	if c.Out == "" || c.Entries.Hostname == "" {
		return fmt.Errorf("--out and --hostname are required")
	}
	for _, a := range c.aliases {
		ip, names, ok := strings.Cut(a, "=")
		if !ok || net.ParseIP(ip) == nil || names == "" {
			return fmt.Errorf("--alias %q: want IP=name[,name...]", a)
		}
		c.Entries.Aliases = append(c.Entries.Aliases, corev1.HostAlias{IP: ip, Hostnames: strings.Split(names, ",")})
	}
	var ips []string
	for _, ip := range strings.Split(os.Getenv(PodIPsEnv), ",") {
		if ip = strings.TrimSpace(ip); ip != "" {
			if net.ParseIP(ip) == nil {
				return fmt.Errorf("$%s: %q is not an IP address", PodIPsEnv, ip)
			}
			ips = append(ips, ip)
		}
	}
	if len(ips) == 0 {
		return fmt.Errorf("$%s holds no address: the pod has none yet", PodIPsEnv)
	}
	return writeFile(c.Out, Render(ips, c.Entries))
}

// writeFile replaces path with data whole: a container started on a half
// written file would resolve nothing.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".hosts-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	// Readable by whatever user the pod's containers run as.
	if err := tmp.Chmod(0o644); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
