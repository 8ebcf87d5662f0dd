package syncer

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ReasonEndpointAddress is the Event reason of Endpoints or an
// EndpointSlice kept off the host for an address the vcluster may not send
// traffic to.
const ReasonEndpointAddress = "ForbiddenEndpointAddress"

// CheckAddresses refuses the addresses of a Service without a selector
// that the vcluster may not send traffic to. On the host, such an address
// is reached from the host's network, where it may be the host's own API
// service or another tenant's pod (the pattern of CVE-2021-25740). Allowed
// are the vcluster's own pods, as the host runs them, and the ranges its
// class allows.
func (s *Context) CheckAddresses(ctx context.Context, addrs []string) error {
	if len(addrs) == 0 {
		return nil
	}
	own, err := s.podIPs(ctx)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if !AddressAllowed(a, own, s.Isolation.AllowedEndpointCIDRs) {
			allowed := "the vcluster's own pods"
			if len(s.Isolation.AllowedEndpointCIDRs) > 0 {
				allowed += " and " + strings.Join(s.Isolation.AllowedEndpointCIDRs, ", ")
			}
			return &Refusal{Reason: ReasonEndpointAddress, Message: fmt.Sprintf(
				"kept off the host: address %s is not one the vcluster may send traffic to (allowed: %s)", a, allowed)}
		}
	}
	return nil
}

// AddressAllowed says whether addr is one of own or within one of cidrs.
// What does not parse as an IP address (a host name, say) is not allowed:
// no range can say where it leads.
func AddressAllowed(addr string, own map[string]bool, cidrs []string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	if own[ip.String()] {
		return true
	}
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}

// podIPs are the addresses of the vcluster's pods on the host.
func (s *Context) podIPs(ctx context.Context) (map[string]bool, error) {
	pods := &corev1.PodList{}
	if err := s.Host.List(ctx, pods, client.InNamespace(s.HostNamespace)); err != nil {
		return nil, err
	}
	ips := map[string]bool{}
	for _, p := range pods.Items {
		for _, ip := range p.Status.PodIPs {
			if a, err := netip.ParseAddr(ip.IP); err == nil {
				ips[a.Unmap().String()] = true
			}
		}
	}
	return ips, nil
}
