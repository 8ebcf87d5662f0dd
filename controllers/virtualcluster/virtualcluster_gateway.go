package virtualcluster

import (
	"fmt"
	"net"
	"net/url"
	"strconv"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/clientcmd"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// DefaultGatewayDomain is under .internal, which ICANN keeps for private
// networks: a lab's names never leak into public DNS, and no DNS is
// needed, as kubeconfigs carry the name as tls-server-name.
const DefaultGatewayDomain = "vclusters.vfleet.internal"

// Gateway is the region's gateway (package gateway), the endpoint every
// tenant kubeconfig names. The zero value names none: kubeconfigs name
// the control plane's own address, which a move changes.
type Gateway struct {
	// Address is host:port where tenants reach the gateway.
	Address string
	// Domain is the suffix of the vclusters' server names.
	Domain string
}

// Enabled is whether the region has a gateway.
func (g Gateway) Enabled() bool { return g.Address != "" }

// Validate says what is wrong with g, as the hub's flags set it.
func (g Gateway) Validate() error {
	if !g.Enabled() {
		return nil
	}
	host, port, err := net.SplitHostPort(g.Address)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return fmt.Errorf("--gateway-address %q: want host:port, where tenants reach the gateway", g.Address)
	}
	// The longest server name is two DNS labels of 63 (the vcluster and
	// its namespace) before the domain, within DNS's 253.
	if errs := validation.IsDNS1123Subdomain(g.Domain); len(errs) > 0 || len(g.Domain) > 253-2*64 {
		return fmt.Errorf("--gateway-domain %q: want a DNS name of at most %d characters", g.Domain, 253-2*64)
	}
	return nil
}

// URL is what tenant kubeconfigs name as the server.
func (g Gateway) URL() string { return "https://" + g.Address }

// ServerName is the name vc is reached by through the gateway: its name
// and namespace, each a DNS label, under the domain. The namespace is
// always the label before the domain, so no two vclusters share one.
func (g Gateway) ServerName(vc *fleetv1.VirtualCluster) string {
	if !g.Enabled() {
		return ""
	}
	return vc.Name + "." + vc.Namespace + "." + g.Domain
}

// throughGateway rewrites the kubeconfig an agent published so that its
// every cluster is reached through g by vc's server name: the same
// kubeconfig wherever the vcluster runs.
func (g Gateway) throughGateway(vc *fleetv1.VirtualCluster, kubeconfig []byte) ([]byte, error) {
	if !g.Enabled() {
		return kubeconfig, nil
	}
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig the agent published: %w", err)
	}
	if len(cfg.Clusters) == 0 {
		return nil, fmt.Errorf("the kubeconfig the agent published names no cluster")
	}
	for _, c := range cfg.Clusters {
		c.Server, c.TLSServerName = g.URL(), g.ServerName(vc)
	}
	return clientcmd.Write(*cfg)
}

// unroute takes the gateway's route to the current epoch out of s, keeping
// the server name: connections are held until the next epoch runs.
func unroute(s *fleetv1.VirtualClusterStatus) {
	if s.Gateway != nil {
		s.Gateway.Address, s.Gateway.Epoch = "", 0
	}
}

// routeTo publishes in s the gateway's route to the current epoch at
// endpoint (the control plane's URL), or none when endpoint is empty or a
// fence of the epoch has begun.
func (g Gateway) routeTo(s *fleetv1.VirtualClusterStatus, vc *fleetv1.VirtualCluster, endpoint string) {
	if !g.Enabled() {
		s.Gateway = nil
		return
	}
	route := &fleetv1.GatewayRoute{ServerName: g.ServerName(vc)}
	fencing := s.Epoch <= s.FencingEpoch || s.Epoch <= s.FencedEpoch
	if u, err := url.Parse(endpoint); err == nil && endpoint != "" && u.Host != "" && !fencing {
		route.Address, route.Epoch = u.Host, s.Epoch
	}
	s.Gateway = route
}
