package controlplane

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/vfleet/vfleet/controlplane/launch"
	"github.com/vfleet/vfleet/identity"
	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/pki"
)

// Identities of the control plane's clients.
const (
	frontProxyUser = "front-proxy-client"
	kcmUser        = "system:kube-controller-manager"
	// KubeletClientUser is the vcluster's apiserver calling its nodes'
	// kubelet API, the only caller the syncer's kubelet proxy lets in.
	KubeletClientUser = "kube-apiserver-kubelet-client"
	kubeconfigAdmin   = launch.AdminKubeconfigFile // in pki/ first, then beside it once ready
	kubeconfigKCM     = "controller-manager.kubeconfig"
)

func (cp *ControlPlane) pki(name string) string { return filepath.Join(cp.cfg.DataDir, "pki", name) }

// leaf is a certificate of the control plane's, issued again before it
// expires. The CAs and the service-account key are not: they are the
// vcluster's identity, and every kubeconfig handed out trusts them.
type leaf struct {
	// name: the pair is pki/<name>.crt and pki/<name>.key.
	name string
	// ca signs it: "ca" or "front-proxy-ca".
	ca  string
	req pki.Request
	// kubeconfig, when set, is the kubeconfig in pki/ that carries the
	// pair for its client.
	kubeconfig string
}

// leaves are the control plane's certificates: the serving one (covering
// every address it is reached at), the front-proxy client, and its
// clients' identities.
func (cp *ControlPlane) leaves() []leaf {
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 96, 0, 1)}
	for _, san := range append([]string{cp.cfg.Address}, cp.cfg.SANs...) {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, san)
		}
	}
	return []leaf{
		{name: "apiserver", ca: "ca", req: pki.Request{CommonName: "kube-apiserver", DNSNames: dns, IPs: ips, Usage: pki.ServerAuth}},
		{name: "front-proxy-client", ca: "front-proxy-ca", req: pki.Request{CommonName: frontProxyUser, Usage: pki.ClientAuth}},
		{name: "admin", ca: "ca", req: pki.Request{CommonName: identity.AdminUser, Organization: []string{identity.AdminGroup}, Usage: pki.ClientAuth}, kubeconfig: kubeconfigAdmin},
		{name: "controller-manager", ca: "ca", req: pki.Request{CommonName: kcmUser, Usage: pki.ClientAuth}, kubeconfig: kubeconfigKCM},
		// The apiserver calls its nodes' kubelet API (logs, exec) as this
		// client, at the syncer's kubelet proxy, which serves with the
		// other on loopback.
		{name: "apiserver-kubelet-client", ca: "ca", req: pki.Request{CommonName: KubeletClientUser, Usage: pki.ClientAuth}},
		{name: "dns", ca: "ca", req: pki.Request{CommonName: dnsUser, Usage: pki.ClientAuth}, kubeconfig: kubeconfigDNS},
		{name: "kubelet-proxy", ca: "ca", req: pki.Request{CommonName: cp.cfg.Name + "-kubelet-proxy", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.ServerAuth}},
	}
}

// ensurePKI writes the vcluster's CA, front-proxy CA, service-account key
// and every leaf, once: a restart keeps them, so kubeconfigs handed out
// stay valid. A leaf this version added to a data directory made before
// it is issued from the CAs already there. With an identity directory,
// the CAs, the key and the admin's pair are the identity's, whichever host
// this data directory is on: a new or rotated identity issues every leaf
// again.
func (cp *ControlPlane) ensurePKI() error {
	dir := cp.pki("")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var cas map[string]*pki.CA
	var fresh bool
	var err error
	if cp.cfg.IdentityDir != "" {
		cas, fresh, err = cp.installIdentity()
	} else {
		cas, fresh, err = cp.ensureCAs()
	}
	if err != nil {
		return err
	}
	for _, l := range cp.leaves() {
		if cp.fromIdentity(l) {
			continue
		}
		if !fresh {
			if cert, err := cp.leafCert(l); err == nil && covers(cert, l.req) {
				continue
			} else if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		if err := cp.issue(l, cas); err != nil {
			return err
		}
	}
	if _, err := os.Stat(cp.pki("sa.key")); err == nil {
		return nil
	}
	return pki.WriteSigningKey(dir)
}

// ensureCAs loads the CAs of the data directory, or makes them (fresh).
func (cp *ControlPlane) ensureCAs() (cas map[string]*pki.CA, fresh bool, err error) {
	cas = map[string]*pki.CA{}
	for name, cn := range map[string]string{"ca": cp.cfg.Name + "-ca", "front-proxy-ca": cp.cfg.Name + "-front-proxy-ca"} {
		if _, err := os.Stat(cp.pki(name + ".crt")); err == nil {
			ca, err := pki.LoadCA(cp.pki(name+".crt"), cp.pki(name+".key"))
			if err != nil {
				return nil, false, err
			}
			cas[name] = ca
			continue
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, false, err
		}
		ca, err := pki.NewCA(cn)
		if err != nil {
			return nil, false, err
		}
		kp, err := ca.KeyPair()
		if err != nil {
			return nil, false, err
		}
		if _, _, err := kp.Write(cp.pki(""), name); err != nil {
			return nil, false, err
		}
		cas[name], fresh = ca, true
	}
	return cas, fresh, nil
}

// installIdentity puts the vcluster's identity into the data directory,
// where it is not there already, and reports whether its CAs or key are
// new here (fresh): every leaf is then issued again from them.
func (cp *ControlPlane) installIdentity() (cas map[string]*pki.CA, fresh bool, err error) {
	id, err := identity.Read(cp.cfg.IdentityDir)
	if err != nil {
		return nil, false, err
	}
	data, err := id.Data()
	if err != nil {
		return nil, false, err
	}
	files := map[string][]byte{
		"ca.crt": data[identity.CACert], "ca.key": data[identity.CAKey],
		"front-proxy-ca.crt": data[identity.FrontProxyCACert], "front-proxy-ca.key": data[identity.FrontProxyCAKey],
		"sa.key": data[identity.SAKey], "sa.pub": data[identity.SAPub],
	}
	for name, b := range files {
		if old, err := os.ReadFile(cp.pki(name)); err == nil && bytes.Equal(old, b) {
			continue
		}
		if err := replaceFile(cp.pki(name), b); err != nil {
			return nil, false, err
		}
		fresh = true
	}
	cas = map[string]*pki.CA{"ca": id.CA, "front-proxy-ca": id.FrontProxyCA}
	for _, l := range cp.leaves() {
		if !cp.fromIdentity(l) {
			continue
		}
		if old, err := cp.leafCert(l); err == nil && bytes.Equal(old, id.Admin.CertPEM) {
			continue
		}
		if err := cp.write(l, id.CA, id.Admin); err != nil {
			return nil, false, err
		}
	}
	return cas, fresh, nil
}

// fromIdentity reports whether l is the identity's rather than the
// control plane's to issue: the admin's pair, which the tenant's
// kubeconfig carries.
func (cp *ControlPlane) fromIdentity(l leaf) bool {
	return cp.cfg.IdentityDir != "" && l.name == "admin"
}

// issue signs l with its CA and writes it, and its kubeconfig if it has one.
func (cp *ControlPlane) issue(l leaf, cas map[string]*pki.CA) error {
	ca := cas[l.ca]
	kp, err := ca.Issue(l.req)
	if err != nil {
		return err
	}
	return cp.write(l, ca, kp)
}

// write keeps kp, signed by ca, as l, with its kubeconfig if it has one.
func (cp *ControlPlane) write(l leaf, ca *pki.CA, kp pki.KeyPair) error {
	if _, _, err := kp.Write(cp.pki(""), l.name); err != nil {
		return err
	}
	if l.kubeconfig == "" {
		return nil
	}
	return kubeconfig.Write(cp.pki(l.kubeconfig), kubeconfig.Identity{
		Cluster: cp.cfg.Name, Server: cp.Endpoint(), CAPEM: ca.CertPEM(), User: l.req.CommonName, CertPEM: kp.CertPEM, KeyPEM: kp.KeyPEM,
	})
}

// renewCertificates issues again, from the same CAs, every leaf in the
// last quarter of its life at now, and returns their names.
func (cp *ControlPlane) renewCertificates(now time.Time) ([]string, error) {
	cas := map[string]*pki.CA{}
	for _, name := range []string{"ca", "front-proxy-ca"} {
		ca, err := pki.LoadCA(cp.pki(name+".crt"), cp.pki(name+".key"))
		if err != nil {
			return nil, err
		}
		cas[name] = ca
	}
	var renewed []string
	for _, l := range cp.leaves() {
		if cp.fromIdentity(l) {
			// The hub issues it again, in the identity.
			continue
		}
		cert, err := cp.leafCert(l)
		if err != nil {
			return renewed, err
		}
		due, _, err := pki.Expiring(cert, now)
		if err != nil {
			return renewed, fmt.Errorf("certificate %s: %w", l.name, err)
		}
		if !due {
			continue
		}
		if err := cp.issue(l, cas); err != nil {
			return renewed, fmt.Errorf("renew certificate %s: %w", l.name, err)
		}
		renewed = append(renewed, l.name)
	}
	return renewed, nil
}

// leafCert is l's certificate: its file, or, in a data directory made
// before clients' pairs had files, the one its kubeconfig carries.
func (cp *ControlPlane) leafCert(l leaf) ([]byte, error) {
	cert, err := os.ReadFile(cp.pki(l.name + ".crt"))
	if err == nil || l.kubeconfig == "" || !errors.Is(err, os.ErrNotExist) {
		return cert, err
	}
	cfg, err := clientcmd.LoadFromFile(cp.pki(l.kubeconfig))
	if err != nil {
		return nil, err
	}
	for _, a := range cfg.AuthInfos {
		return a.ClientCertificateData, nil
	}
	return nil, fmt.Errorf("kubeconfig %s has no user", l.kubeconfig)
}

// covers is whether the certificate in certPEM is for every name and
// address req asks for: a name added since it was issued (the gateway's)
// issues it again.
func covers(certPEM []byte, req pki.Request) bool {
	cert, err := pki.ParseCert(certPEM)
	if err != nil {
		return false
	}
	for _, name := range req.DNSNames {
		if !slices.Contains(cert.DNSNames, name) {
			return false
		}
	}
	for _, ip := range req.IPs {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}
