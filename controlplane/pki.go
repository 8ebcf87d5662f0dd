package controlplane

import (
	"errors"
	"net"
	"os"
	"path/filepath"

	"github.com/vfleet/vfleet/controlplane/launch"
	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/pki"
)

// Identities of the control plane's clients.
const (
	adminUser       = "vfleet:vcluster-admin"
	frontProxyUser  = "front-proxy-client"
	kcmUser         = "system:kube-controller-manager"
	kubeconfigAdmin = launch.AdminKubeconfigFile // in pki/ first, then beside it once ready
	kubeconfigKCM   = "controller-manager.kubeconfig"
)

func (cp *ControlPlane) pki(name string) string { return filepath.Join(cp.cfg.DataDir, "pki", name) }

// ensurePKI writes the vcluster's CA, serving certificate (covering every
// address it is reached at), front-proxy CA and client, service-account key
// and client identities, once: a restart keeps them, so kubeconfigs handed
// out stay valid.
func (cp *ControlPlane) ensurePKI() error {
	dir := cp.pki("")
	if _, err := os.Stat(cp.pki("ca.crt")); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, err := pki.NewCA(cp.cfg.Name + "-ca")
	if err != nil {
		return err
	}
	frontCA, err := pki.NewCA(cp.cfg.Name + "-front-proxy-ca")
	if err != nil {
		return err
	}
	for name, a := range map[string]*pki.CA{"ca": ca, "front-proxy-ca": frontCA} {
		kp, err := a.KeyPair()
		if err != nil {
			return err
		}
		if _, _, err := kp.Write(dir, name); err != nil {
			return err
		}
	}
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 96, 0, 1)}
	for _, san := range append([]string{cp.cfg.Address}, cp.cfg.SANs...) {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, san)
		}
	}
	issue := []pki.Issue{
		{File: "apiserver", CA: ca, Request: pki.Request{CommonName: "kube-apiserver", DNSNames: dns, IPs: ips, Usage: pki.ServerAuth}},
		{File: "front-proxy-client", CA: frontCA, Request: pki.Request{CommonName: frontProxyUser, Usage: pki.ClientAuth}},
	}
	if err := pki.IssueAll(dir, issue); err != nil {
		return err
	}
	if err := pki.WriteSigningKey(dir); err != nil {
		return err
	}
	for _, id := range []struct {
		file, user string
		org        []string
	}{
		{kubeconfigAdmin, adminUser, []string{"system:masters"}},
		{kubeconfigKCM, kcmUser, nil},
	} {
		kp, err := ca.Issue(pki.Request{CommonName: id.user, Organization: id.org, Usage: pki.ClientAuth})
		if err != nil {
			return err
		}
		err = kubeconfig.Write(cp.pki(id.file), kubeconfig.Identity{
			Cluster: cp.cfg.Name, Server: cp.Endpoint(), CAPEM: ca.CertPEM(), User: id.user, CertPEM: kp.CertPEM, KeyPEM: kp.KeyPEM,
		})
		if err != nil {
			return err
		}
	}
	return nil
}
