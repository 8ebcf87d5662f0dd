package portclaim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Ports the kernel picks (":0") come from the ephemeral range, which every
// outgoing connection on the machine also draws from: a port picked now and
// bound seconds later, when its process starts, may have been taken by a
// client in between. A claim therefore takes its ports below that range, in
// slots of slotSize, and holds a machine-wide flock on each slot until it is
// released, so that two labs never share a port.
const (
	portRangeStart = 20000
	slotSize       = 32
)

// Claim is a set of ports a lab or a test holds.
type Claim struct {
	Ports []int
	locks []*os.File
}

// Release lets others take the ports.
func (c *Claim) Release() {
	for _, l := range c.locks {
		l.Close()
	}
	c.locks = nil
}

// Take returns n ports: consecutive from base if base is set (locking
// nothing: who names a base answers for it), else a block of free ports no
// other lab holds.
func Take(base, n int) (*Claim, error) {
	if base != 0 {
		ports := make([]int, n)
		for i := range ports {
			ports[i] = base + i
		}
		return &Claim{Ports: ports}, nil
	}
	end := ephemeralStart()
	slots := (n + slotSize - 1) / slotSize
	total := (end - portRangeStart) / slotSize
	if total < slots {
		return nil, fmt.Errorf("ports %d-%d below the ephemeral range cannot hold %d ports: use a port base", portRangeStart, end-1, n)
	}
	dir := filepath.Join(os.TempDir(), "vfleet-lab-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	for range 100 {
		first := rand.IntN(total - slots + 1)
		claim, err := tryClaim(dir, first, slots)
		if err != nil {
			return nil, err
		}
		if claim == nil {
			continue
		}
		if allFree(claim.Ports[:n]) {
			claim.Ports = claim.Ports[:n]
			return claim, nil
		}
		claim.Release()
	}
	return nil, fmt.Errorf("found no %d free ports between %d and %d that no other lab holds: use a port base", n, portRangeStart, end-1)
}

// tryClaim locks slots first..first+count-1, or returns nil if another lab
// holds one of them.
func tryClaim(dir string, first, count int) (*Claim, error) {
	claim := &Claim{}
	for s := first; s < first+count; s++ {
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(s)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			claim.Release()
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			claim.Release()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, nil
			}
			return nil, err
		}
		claim.locks = append(claim.locks, f)
		for p := range slotSize {
			claim.Ports = append(claim.Ports, portRangeStart+s*slotSize+p)
		}
	}
	return claim, nil
}

func allFree(ports []int) bool {
	for _, p := range ports {
		if CheckFree(p) != nil {
			return false
		}
	}
	return true
}

// ephemeralStart is where the kernel's ephemeral ports begin.
func ephemeralStart() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 32768
	}
	start, err := strconv.Atoi(fields[0])
	if err != nil {
		return 32768
	}
	return start
}

// CheckFree reports an error if something already listens on the port.
func CheckFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

// Ports holds n free loopback ports below the ephemeral range for a
// process started outside a lab (a test's control plane, say) until release
// is called; no lab and no outgoing connection will take them meanwhile.
func Ports(n int) (ports []int, release func(), err error) {
	c, err := Take(0, n)
	if err != nil {
		return nil, nil, err
	}
	return c.Ports, c.Release, nil
}
