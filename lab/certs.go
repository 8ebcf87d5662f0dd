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
	// gatewayUser is bound to the gateway's ClusterRole.
	gatewayUser = "vfleet:gateway"
	// agentUser is the agent on its host cluster, where it installs
	// control planes and their namespaces: cluster-admin there.
	agentUser = "vfleet:agent"
	// apiserverKubeletUser is the apiserver calling kubelets.
	apiserverKubeletUser = "kube-apiserver-kubelet-client"
)

var loopback = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}

// apiServerIPs are the addresses the apiserver's certificate covers: the
// kubernetes Service's, loopback, and where pods reach it, if they do.
func (c *Cluster) apiServerIPs() []net.IP {
	ips := append([]net.IP{net.IPv4(10, 96, 0, 1)}, loopback...)
	if addr := c.podReachableAddress(); addr != nil {
		ips = append(ips, addr)
	}
	if c.region != nil {
		ips = append(ips, c.region.Bridge.IP)
	}
	return ips
}

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

	issue := []pki.Issue{
		// etcd uses one certificate to serve clients and to talk to peers.
		{File: "etcd-server", CA: etcdCA, Request: pki.Request{CommonName: c.Name + "-etcd", DNSNames: []string{"localhost"}, IPs: loopback, Usage: pki.ServerAuth | pki.ClientAuth}},
		{File: "apiserver-etcd-client", CA: etcdCA, Request: pki.Request{CommonName: "kube-apiserver-etcd-client", Usage: pki.ClientAuth}},
		{File: "apiserver", CA: ca, Request: pki.Request{
			CommonName: "kube-apiserver",
			DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPs:        c.apiServerIPs(),
			Usage:      pki.ServerAuth,
		}},
		// The controller-manager and scheduler serve /healthz with it.
		{File: "serving", CA: ca, Request: pki.Request{CommonName: c.Name + "-components", DNSNames: []string{"localhost"}, IPs: loopback, Usage: pki.ServerAuth}},
		// The apiserver's identity to kubelets, bound to
		// system:kubelet-api-admin as kubeadm does.
		{File: "apiserver-kubelet-client", CA: ca, Request: pki.Request{CommonName: apiserverKubeletUser, Usage: pki.ClientAuth}},
	}
	if c.Role == RoleManagement {
		// Agents verify the hub's join endpoint with the management CA.
		hubIPs := loopback
		if c.region != nil {
			hubIPs = append(slices.Clone(loopback), c.region.HubIP)
		}
		issue = append(issue, pki.Issue{File: "hub-serving", CA: ca, Request: pki.Request{CommonName: "vfleet-hub", DNSNames: []string{"localhost"}, IPs: hubIPs, Usage: pki.ServerAuth}})
	}
	if err := pki.IssueAll(dir, issue); err != nil {
		return err
	}
	if err := pki.WriteSigningKey(dir); err != nil {
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
		{Gateway, gatewayUser, nil},
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
