package lab

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vfleet/vfleet/internal/k8sbin"
)

// VfleetBinEnv overrides which vfleet binary runs the hub and the agents.
const VfleetBinEnv = "VFLEET_BIN"

// Config describes a lab.
type Config struct {
	// Dir holds everything the lab writes: PKI, data, logs, kubeconfigs and
	// its state file. One lab at a time may use a directory.
	Dir string
	// BinDir holds etcd, kube-apiserver, kube-controller-manager,
	// kube-scheduler and kwok, and the kubelet and kube-proxy of real
	// nodes. Empty means k8sbin.Dir().
	BinDir string
	// ContainerdBinDir holds containerd, its shim and ctr, and ImagesDir
	// the image archives, for real nodes. Empty means k8sbin's.
	ContainerdBinDir string
	ImagesDir        string
	// VfleetBin is the vfleet binary that runs the hub and the agents.
	// Empty means FindVfleetBin().
	VfleetBin string
	// Hosts are the host clusters to run beside the management cluster.
	Hosts []HostConfig
	// PortBase, if set, makes the lab listen on consecutive ports from this
	// one instead of ports the kernel picks, so endpoints are predictable.
	PortBase int
	// Progress receives one line per step while the lab starts and stops.
	Progress io.Writer
	// Region, when set, makes the lab one region of a federation of labs.
	Region *RegionConfig
	// OTLPEndpoint, when set, is where the hub, the agents and their
	// control planes send their traces (OTLP over HTTP, as
	// OTEL_EXPORTER_OTLP_ENDPOINT). A region's hub runs in a network
	// namespace of its own, where a loopback address reaches nothing.
	OTLPEndpoint string
}

// HostConfig describes one host cluster.
type HostConfig struct {
	Name   string
	Region string
	Zone   string
	// Nodes is how many kwok nodes the host has.
	Nodes int
	// RealNodes is how many real nodes (containerd, kubelet, runc) the
	// host has beside them. One host of the lab at most may have any:
	// their kube-proxy is the machine's.
	RealNodes int
	// MoreImages are references of images, built by `make images`, that
	// the host's real nodes import beside the lab's own: the e2e suite's
	// for `make conformance`.
	MoreImages []string
	// Runtime is how the host's agent runs control planes: "" or
	// "process" on this machine, "kubernetes" as pods on the host's real
	// nodes, from the vfleet image.
	Runtime string
	// Node is the allocatable capacity of each node.
	Node NodeCapacity
}

// NodeCapacity is what one kwok node offers the scheduler.
type NodeCapacity struct {
	CPU    resource.Quantity
	Memory resource.Quantity
	Pods   int64
}

// DefaultNodeCapacity is a mid-sized machine: 8 cores, 32 GiB, 110 pods.
func DefaultNodeCapacity() NodeCapacity {
	return NodeCapacity{CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), Pods: 110}
}

// DefaultHosts returns n hosts named host-1..host-n, spread over two regions
// (region-a, region-b) with one zone per host, each with nodes default-sized
// nodes.
func DefaultHosts(n, nodes int) []HostConfig {
	regions := []string{"region-a", "region-b"}
	hosts := make([]HostConfig, n)
	for i := range hosts {
		region := regions[i%len(regions)]
		hosts[i] = HostConfig{
			Name:   fmt.Sprintf("host-%d", i+1),
			Region: region,
			Zone:   fmt.Sprintf("%s-%d", region, i/len(regions)+1),
			Nodes:  nodes,
			Node:   DefaultNodeCapacity(),
		}
	}
	return hosts
}

// DefaultDir is where `vfleet lab` keeps its lab unless told otherwise.
func DefaultDir() string {
	if dir := os.Getenv("VFLEET_LAB_DIR"); dir != "" {
		return dir
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".vfleet", "lab")
	}
	return filepath.Join(os.TempDir(), "vfleet-lab")
}

// maxHosts keeps node addresses (172.16.<host>.<node>) unique.
const maxHosts = 254

// managementName is the management cluster's name; no host may take it.
const managementName = "management"

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("lab directory is empty"))
	}
	if c.PortBase != 0 && (c.PortBase < 1024 || c.PortBase+c.portsNeeded() > 65535) {
		errs = append(errs, fmt.Errorf("port base %d: need %d ports between 1024 and 65535", c.PortBase, c.portsNeeded()))
	}
	if len(c.Hosts) > maxHosts {
		errs = append(errs, fmt.Errorf("%d hosts: a lab has at most %d", len(c.Hosts), maxHosts))
	}
	seen := map[string]bool{managementName: true}
	withReal := ""
	for i, h := range c.Hosts {
		at := fmt.Sprintf("host %d (%q)", i+1, h.Name)
		for _, msg := range validation.IsDNS1123Label(h.Name) {
			errs = append(errs, fmt.Errorf("%s: name: %s", at, msg))
		}
		if seen[h.Name] {
			errs = append(errs, fmt.Errorf("%s: name is already taken", at))
		}
		seen[h.Name] = true
		if h.Region == "" || h.Zone == "" {
			errs = append(errs, fmt.Errorf("%s: region and zone are required", at))
		}
		if h.RealNodes < 0 || h.RealNodes > maxRealNodes {
			errs = append(errs, fmt.Errorf("%s: real nodes must be between 0 and %d, got %d", at, maxRealNodes, h.RealNodes))
		}
		if h.RealNodes > 0 {
			if withReal != "" {
				errs = append(errs, fmt.Errorf("%s: real nodes are on host %q already: one host of a lab may have them, as one kube-proxy serves the machine", at, withReal))
			}
			withReal = h.Name
		}
		switch h.Runtime {
		case "", RuntimeProcess:
		case RuntimeKubernetes:
			if h.RealNodes == 0 {
				errs = append(errs, fmt.Errorf("%s: the kubernetes runtime runs control planes as pods, which need real nodes", at))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: runtime %q: want %s or %s", at, h.Runtime, RuntimeProcess, RuntimeKubernetes))
		}
		if h.Nodes < 0 || h.Nodes+h.RealNodes < 1 {
			errs = append(errs, fmt.Errorf("%s: needs at least 1 node, kwok or real, got %d kwok and %d real", at, h.Nodes, h.RealNodes))
		}
		if h.Node.CPU.Sign() <= 0 || h.Node.Memory.Sign() <= 0 || h.Node.Pods <= 0 {
			errs = append(errs, fmt.Errorf("%s: node cpu, memory and pods must be positive, got cpu=%s memory=%s pods=%d",
				at, h.Node.CPU.String(), h.Node.Memory.String(), h.Node.Pods))
		}
	}
	if c.Region != nil {
		errs = append(errs, c.Region.validate(c.Hosts)...)
	}
	return errors.Join(errs...)
}

func (c *Config) portsNeeded() int {
	n := portCount(managementComponents)
	for _, h := range c.Hosts {
		n += portCount(componentsOf(h))
	}
	return n
}

// hasRealNodes reports whether any host has real nodes.
func (c *Config) hasRealNodes() bool {
	for _, h := range c.Hosts {
		if h.RealNodes > 0 {
			return true
		}
	}
	return false
}

// maxRealNodes keeps a host's real nodes few: each is a kubelet and a
// containerd, about 140 MiB idle.
const maxRealNodes = 8

// FindVfleetBin returns the vfleet binary for the hub and the agents:
// $VFLEET_BIN, else the running executable if it is vfleet, else the first
// bin/vfleet walking up from the working directory.
func FindVfleetBin() string {
	if p := os.Getenv(VfleetBinEnv); p != "" {
		return p
	}
	if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "vfleet" {
		return exe
	}
	wd, err := os.Getwd()
	if err != nil {
		return filepath.Join("bin", "vfleet")
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if cand := filepath.Join(dir, "bin", "vfleet"); isFile(cand) {
			return cand
		}
		if filepath.Dir(dir) == dir {
			return filepath.Join(wd, "bin", "vfleet")
		}
	}
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// checkBinaries says which binary is missing and how to get it.
func checkBinaries(dir string, names []string) error {
	for _, name := range names {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		switch {
		case err != nil && name == "vfleet":
			return fmt.Errorf("vfleet not found at %s: run \"make build\", or point %s at it", path, VfleetBinEnv)
		case err != nil:
			return fmt.Errorf("%s not found in %s: run \"make binaries\" to build the Kubernetes %s binaries", name, dir, k8sbin.Version)
		case fi.IsDir() || fi.Mode()&0o111 == 0:
			return fmt.Errorf("%s is not an executable file: run \"make binaries\" to rebuild it", path)
		}
	}
	return nil
}

// traceEnv has vfleet's processes send their traces to endpoint, if set,
// each batch within a fifth of a second: a test waits for them.
func traceEnv(endpoint string) []string {
	if endpoint == "" {
		return nil
	}
	return []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_BSP_SCHEDULE_DELAY=200"}
}
