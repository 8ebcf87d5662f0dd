package lab

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
)

// The federation's network on this machine: a bridge whose address the
// management clusters and stores listen at, and one network namespace per
// region, joined to the bridge by a veth, where the region's hub runs. The
// hubs' raft traffic crosses the bridge between namespaces, so a partition
// is a packet filter in a region's namespace: a real cut. One federation
// lab at a time holds the lock and so these fixed names.
const (
	fedBridge = "vfleet-fed0"
	// fedLockFile is beside /run/vfleet, which a lab of real nodes
	// removes when it stops, not in it: labs of both kinds run at once.
	fedLockFile = "/run/vfleet-federation.lock"
	fedNetNS    = "vfleet-fed-"
	fedVeth     = "vfleet-fed-"
	// fedRaftPort is where every hub's federation port listens, in its
	// own namespace.
	fedRaftPort = 7400
)

// fedNetwork is the bridge's network; the bridge takes .1, region i's hub
// .10+i.
var fedNetwork = net.IPNet{IP: net.IPv4(10, 251, 0, 1).To4(), Mask: net.CIDRMask(24, 32)}

func fedHubIP(i int) net.IP { return net.IPv4(10, 251, 0, byte(10+i)).To4() }

// fedNet is the federation's hold on the machine's network.
type fedNet struct {
	lock    *os.File
	regions int
}

// claimFedNet takes the machine's federation lock and clears what a
// federation lab that died left, then makes the bridge and one namespace
// per region.
func claimFedNet(regions int) (*fedNet, error) {
	if regions > 9 {
		return nil, fmt.Errorf("%d regions: a lab federation has at most 9", regions)
	}
	n, err := lockFedNet()
	if err != nil {
		return nil, err
	}
	n.regions = regions
	if err := n.clear(); err != nil {
		n.release()
		return nil, fmt.Errorf("clear an earlier federation lab's network: %w", err)
	}
	if err := n.create(); err != nil {
		err = errors.Join(err, n.clear())
		n.release()
		return nil, fmt.Errorf("federation network: %w", err)
	}
	return n, nil
}

// lockFedNet takes the machine's federation lock, or says who holds it.
// The holder removes the file when it lets go, so a lock taken on a file
// that is no longer the one at the path is no lock: it tries again.
func lockFedNet() (*fedNet, error) {
	for {
		f, err := os.OpenFile(fedLockFile, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("another federation lab runs on this machine (%s is held): stop it first", fedLockFile)
			}
			return nil, err
		}
		held, err1 := f.Stat()
		atPath, err2 := os.Stat(fedLockFile)
		if err1 == nil && err2 == nil && os.SameFile(held, atPath) {
			return &fedNet{lock: f}, nil
		}
		f.Close()
	}
}

func netnsName(i int) string { return fmt.Sprintf("%s%d", fedNetNS, i) }

func (n *fedNet) create() error {
	cmds := [][]string{
		{"link", "add", fedBridge, "type", "bridge"},
		{"addr", "add", fedNetwork.String(), "dev", fedBridge},
		{"link", "set", fedBridge, "up"},
	}
	for i := 1; i <= n.regions; i++ {
		ns, veth := netnsName(i), fmt.Sprintf("%s%d", fedVeth, i)
		hub := net.IPNet{IP: fedHubIP(i), Mask: fedNetwork.Mask}
		cmds = append(cmds,
			[]string{"netns", "add", ns},
			[]string{"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"link", "set", veth, "master", fedBridge, "up"},
			[]string{"-n", ns, "link", "set", "lo", "up"},
			[]string{"-n", ns, "addr", "add", hub.String(), "dev", "eth0"},
			[]string{"-n", ns, "link", "set", "eth0", "up"},
		)
	}
	for _, args := range cmds {
		if err := ipCmd(args...); err != nil {
			return err
		}
	}
	return nil
}

// clear removes the namespaces and the bridge (their veths go with them),
// whatever of them is there.
func (n *fedNet) clear() error {
	var errs []error
	for _, name := range fedNamespaces() {
		errs = append(errs, ipCmd("netns", "delete", name))
	}
	// A namespace outlives its name while a socket in it lives on (one
	// still sending to a hub that is gone), and its veth with it: deleting
	// the machine's end deletes both.
	// The kernel takes a deleted namespace's veths down in its own time, so
	// one listed here may be gone by its delete: only one that stays is an
	// error.
	for _, name := range fedLinks() {
		if err := ipCmd("link", "delete", name); err != nil && slices.Contains(fedLinks(), name) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (n *fedNet) release() {
	if n.lock != nil {
		// Removed while held: see lockFedNet.
		_ = os.Remove(fedLockFile)
		n.lock.Close()
		n.lock = nil
	}
}

// cut drops, in region i's namespace, every packet to and from the hubs
// of regions peers. Its hub still reaches its own management cluster,
// hosts and the stores, as a region cut off from the others would.
func (n *fedNet) cut(i int, peers ...int) error {
	for _, j := range peers {
		peer := fedHubIP(j).String()
		for _, rule := range [][]string{{"INPUT", "-s", peer}, {"OUTPUT", "-d", peer}} {
			args := append([]string{"netns", "exec", netnsName(i), "iptables", "-w", "-A"}, rule...)
			if err := ipCmd(append(args, "-j", "DROP")...); err != nil {
				return err
			}
		}
	}
	return nil
}

// heal removes every cut made in region i's namespace.
func (n *fedNet) heal(i int) error {
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		if err := ipCmd("netns", "exec", netnsName(i), "iptables", "-w", "-F", chain); err != nil {
			return err
		}
	}
	return nil
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// fedNamespaces are the federation's network namespaces on the machine.
func fedNamespaces() []string {
	var names []string
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, fedNetNS) {
			names = append(names, name)
		}
	}
	return names
}

// fedLinks are the federation's bridge and veths on the machine, the
// veths first.
func fedLinks() []string {
	var links []string
	ifaces, _ := net.Interfaces()
	for _, i := range ifaces {
		if strings.HasPrefix(i.Name, fedVeth) {
			links = append(links, i.Name)
		}
	}
	if _, err := net.InterfaceByName(fedBridge); err == nil {
		links = append(links, fedBridge)
	}
	return links
}
