package lab

import (
	"net"
	"os"
	"slices"

	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/pki"
)

const (
	// adminUser is in system:masters: the lab's operator owns the cluster.
	adminUser = "vfleet-lab:admin"
	// kwokUser is bound to cluster-admin once the apiserver is up; kwok
	// plays every kubelet of the cluster.
	kwokUser = "vfleet-lab:kwok"
	// hubUser is bound to the hub's generated ClusterRole.
	hubUser = "vfleet:hub"
	// agentUser is the agent on its host cluster, where it installs
	// control planes and their namespaces: cluster-admin there.
	agentUser = "vfleet:agent"
)

var loopback = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}

// writePKI creates the cluster's certificate authorities, every certificate
// its processes use, the service-account key and the kubeconfigs. Each
// cluster has its own CAs, as separate real clusters would.
func (c *Cluster) writePKI() error {
	for _, d := range c.paths.dirs() {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	dir := c.paths.pki("")

	ca, err := pki.NewCA(c.Name + "-ca")
	if err != nil {
		return err
	}
	etcdCA, err := pki.NewCA(c.Name + "-etcd-ca")
	if err != nil {
		return err
	}
	for name, a := range map[string]*pki.CA{"ca": ca, "etcd-ca": etcdCA} {
		kp, err := a.KeyPair()
		if err != nil {
			return err
		}
		if _, _, err := kp.Write(dir, name); err != nil {
			return err
		}
	}

	issue := []struct {
		file string
		ca   *pki.CA
		req  pki.Request
	}{
		// etcd uses one certificate to serve clients and to talk to peers.
		{"etcd-server", etcdCA, pki.Request{CommonName: c.Name + "-etcd", DNSNames: []string{"localhost"}, IPs: loopback, Usage: pki.ServerAuth | pki.ClientAuth}},
		{"apiserver-etcd-client", etcdCA, pki.Request{CommonName: "kube-apiserver-etcd-client", Usage: pki.ClientAuth}},
		{"apiserver", ca, pki.Request{
			CommonName: "kube-apiserver",
			DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPs:        append([]net.IP{net.IPv4(10, 96, 0, 1)}, loopback...),
			Usage:      pki.ServerAuth,
		}},
		// The controller-manager and scheduler serve /healthz with it.
		{"serving", ca, pki.Request{CommonName: c.Name + "-components", DNSNames: []string{"localhost"}, IPs: loopback, Usage: pki.ServerAuth}},
	}
	if c.Role == RoleManagement {
		// Agents verify the hub's join endpoint with the management CA.
		issue = append(issue, struct {
			file string
			ca   *pki.CA
			req  pki.Request
		}{"hub-serving", ca, pki.Request{CommonName: "vfleet-hub", DNSNames: []string{"localhost"}, IPs: loopback, Usage: pki.ServerAuth}})
	}
	for _, it := range issue {
		kp, err := it.ca.Issue(it.req)
		if err != nil {
			return err
		}
		if _, _, err := kp.Write(dir, it.file); err != nil {
			return err
		}
	}

	signKey, verifyKey, err := pki.NewSigningKey()
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.paths.pki("sa.key"), signKey, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(c.paths.pki("sa.pub"), verifyKey, 0o644); err != nil {
		return err
	}

	// The admin identity, then one per component that talks to the API.
	identities := []struct {
		comp Component
		user string
		org  []string
	}{
		{"", adminUser, []string{"system:masters"}},
		{KubeControllerManager, "system:kube-controller-manager", nil},
		{KubeScheduler, "system:kube-scheduler", nil},
		{Kwok, kwokUser, nil},
		{Hub, hubUser, nil},
		{Agent, agentUser, nil},
	}
	for _, id := range identities {
		path := c.paths.kubeconfig
		if id.comp != "" {
			if !slices.Contains(c.Components(), id.comp) {
				continue
			}
			path = c.paths.kubeconfigFor(id.comp)
		}
		kp, err := ca.Issue(pki.Request{CommonName: id.user, Organization: id.org, Usage: pki.ClientAuth})
		if err != nil {
			return err
		}
		err = kubeconfig.Write(path, kubeconfig.Identity{
			Cluster: "vfleet-lab-" + c.Name,
			Server:  c.Endpoint(),
			CAPEM:   ca.CertPEM(),
			User:    id.user,
			CertPEM: kp.CertPEM,
			KeyPEM:  kp.KeyPEM,
		})
		if err != nil {
			return err
		}
	}
	return nil
}
