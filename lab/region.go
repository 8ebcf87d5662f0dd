package lab

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
)

// RegionConfig makes a lab one region of a federation of labs (see
// Federation). Its hub runs in a network namespace of its own, where the
// federation's raft port listens, so that cutting the region off is a
// real network cut; the hub reaches its management cluster and the stores
// over a bridge on the machine, where they listen for it.
type RegionConfig struct {
	// Name is the region: every host of the lab is in it, and the hub
	// serves it.
	Name string
	// NetNS is the network namespace the hub runs in.
	NetNS string
	// HubIP is the hub's address in NetNS, which the machine routes to.
	HubIP net.IP
	// Bridge is the bridge's address and network: the management
	// cluster's apiserver and the stores listen at its address, and let
	// the hubs' network in.
	Bridge net.IPNet
	// Regions are every region of the federation: the lab's stores serve
	// them all.
	Regions []string
	// Stores is the lab whose PostgreSQL and etcd store every region
	// registers; nil means this lab runs them.
	Stores *Lab
	// HubArgs are the hub's federation flags.
	HubArgs []string
}

// validate reports what is wrong with the region, and with hosts outside
// it.
func (r *RegionConfig) validate(hosts []HostConfig) []error {
	var errs []error
	if r.Name == "" || r.NetNS == "" || r.HubIP == nil || r.Bridge.IP == nil {
		errs = append(errs, fmt.Errorf("region %q: name, network namespace, hub address and bridge are required", r.Name))
	}
	for _, h := range hosts {
		if h.Region != r.Name {
			errs = append(errs, fmt.Errorf("host %q: region %q: a region's lab has hosts of its region (%q) only", h.Name, h.Region, r.Name))
		}
	}
	return errs
}

// apiAddress is where the cluster's apiserver (and, on a management
// cluster, its stores) listens: the bridge's address for a region's
// management cluster, so that its hub reaches it, else loopback.
func (c *Cluster) apiAddress() net.IP {
	if c.region != nil {
		return c.region.Bridge.IP
	}
	return net.IPv4(127, 0, 0, 1)
}

// hubAddress is where the hub listens: in its network namespace for a
// region, else on loopback.
func (c *Cluster) hubAddress() string {
	if c.region != nil {
		return c.region.HubIP.String()
	}
	return "127.0.0.1"
}

func (c *Cluster) hubHostPort(port int) string {
	return net.JoinHostPort(c.hubAddress(), strconv.Itoa(port))
}

// inRegionNetNS wraps a hub's command line so that it runs in the region's
// network namespace.
func (c *Cluster) inRegionNetNS(path string, args []string) (string, []string) {
	if c.region == nil {
		return path, args
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		ip = "/usr/sbin/ip"
	}
	return ip, append([]string{"netns", "exec", c.region.NetNS, path}, args...)
}
