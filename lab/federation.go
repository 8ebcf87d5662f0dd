package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vfleet/vfleet/federation"
	"github.com/vfleet/vfleet/internal/pki"
)

// FederationConfig describes a lab of several regions, each a lab of its
// own (a management cluster, its hub and its hosts), whose hubs form one
// federation.
type FederationConfig struct {
	// Dir holds one directory per region, and the federation's PKI.
	Dir string
	// Regions is how many regions (region-1..region-N) to run; at least 3,
	// so that the federation survives the loss of one.
	Regions int
	// HostsPerRegion is how many hosts each region has, each with Nodes
	// kwok nodes.
	HostsPerRegion int
	Nodes          int
	// ReportEvery and RegionLossAfter set the hubs' federation timings;
	// zero keeps the hubs' defaults.
	ReportEvery, RegionLossAfter time.Duration
	// BinDir, VfleetBin and Progress are as in Config.
	BinDir    string
	VfleetBin string
	Progress  io.Writer
}

// Federation is a running lab of regions. The first region's management
// cluster runs the stores every region shares, as a database kept in one
// region serves all: lose that region and its stores go with it.
type Federation struct {
	cfg     FederationConfig
	regions []*Lab
	names   []string
	net     *fedNet
}

// RegionName is the name of region i, from 1.
func RegionName(i int) string { return "region-" + strconv.Itoa(i) }

// NewFederation checks cfg and returns a federation ready to Start.
func NewFederation(cfg FederationConfig) (*Federation, error) {
	if cfg.Regions < 3 {
		return nil, fmt.Errorf("%d regions: a federation needs at least 3 to survive the loss of one", cfg.Regions)
	}
	if cfg.HostsPerRegion < 1 || cfg.Nodes < 1 {
		return nil, fmt.Errorf("each region needs at least one host with one node, got %d hosts of %d nodes", cfg.HostsPerRegion, cfg.Nodes)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	f := &Federation{cfg: cfg}
	for i := 1; i <= cfg.Regions; i++ {
		f.names = append(f.names, RegionName(i))
	}
	for i := 1; i <= cfg.Regions; i++ {
		l, err := New(f.regionConfig(i))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", RegionName(i), err)
		}
		f.regions = append(f.regions, l)
	}
	return f, nil
}

func (f *Federation) regionConfig(i int) Config {
	name := RegionName(i)
	var hosts []HostConfig
	for h := 1; h <= f.cfg.HostsPerRegion; h++ {
		hosts = append(hosts, HostConfig{
			Name: fmt.Sprintf("r%d-host-%d", i, h), Region: name, Zone: fmt.Sprintf("%s-%d", name, h),
			Nodes: f.cfg.Nodes, Node: DefaultNodeCapacity(),
		})
	}
	pkiDir := f.pkiDir()
	args := []string{
		"--federation-id=" + name,
		"--federation-region=" + name,
		"--federation-dir=" + filepath.Join(f.cfg.Dir, name, "federation"),
		"--federation-bind-address=" + net.JoinHostPort(fedHubIP(i).String(), strconv.Itoa(fedRaftPort)),
		"--federation-cert-file=" + filepath.Join(pkiDir, name+".crt"),
		"--federation-key-file=" + filepath.Join(pkiDir, name+".key"),
		"--federation-ca-file=" + filepath.Join(pkiDir, "ca.crt"),
	}
	if i == 1 {
		args = append(args, "--federation-bootstrap")
	} else {
		args = append(args, "--federation-join="+net.JoinHostPort(fedHubIP(1).String(), strconv.Itoa(fedRaftPort)))
	}
	if f.cfg.ReportEvery > 0 {
		args = append(args, "--federation-report-interval="+f.cfg.ReportEvery.String())
	}
	if f.cfg.RegionLossAfter > 0 {
		args = append(args, "--federation-region-loss-after="+f.cfg.RegionLossAfter.String())
	}
	region := &RegionConfig{
		Name: name, NetNS: netnsName(i), HubIP: fedHubIP(i), Bridge: fedNetwork,
		Regions: f.names, HubArgs: args,
	}
	if i > 1 {
		region.Stores = f.regions[0]
	}
	return Config{
		Dir: filepath.Join(f.cfg.Dir, name), BinDir: f.cfg.BinDir, VfleetBin: f.cfg.VfleetBin,
		Hosts: hosts, Progress: f.cfg.Progress, Region: region,
	}
}

// Regions are the regions' labs, region-1 first.
func (f *Federation) Regions() []*Lab { return slices.Clone(f.regions) }

// Names are the regions' names, region-1 first.
func (f *Federation) Names() []string { return slices.Clone(f.names) }

// Region returns the lab of the region called name, or nil.
func (f *Federation) Region(name string) *Lab {
	if i := slices.Index(f.names, name); i >= 0 {
		return f.regions[i]
	}
	return nil
}

// Start makes the network and the federation's PKI, then starts the first
// region, which bootstraps the federation, and then the others, which join
// it. On failure it stops whatever it started.
func (f *Federation) Start(ctx context.Context) (err error) {
	if err := os.MkdirAll(f.cfg.Dir, 0o755); err != nil {
		return err
	}
	if f.net, err = claimFedNet(f.cfg.Regions); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, f.Stop(context.WithoutCancel(ctx)))
		}
	}()
	if err := f.writePKI(); err != nil {
		return fmt.Errorf("federation PKI: %w", err)
	}
	if err := f.regions[0].Start(ctx); err != nil {
		return fmt.Errorf("%s: %w", f.names[0], err)
	}
	// Joins go one at a time: each is a change of the raft configuration.
	for i, l := range f.regions[1:] {
		if err := l.Start(ctx); err != nil {
			return fmt.Errorf("%s: %w", f.names[i+1], err)
		}
	}
	return nil
}

// writePKI makes the federation's CA and each hub's certificate, for its
// address, to serve and to dial its peers with.
func (f *Federation) writePKI() error {
	dir := f.pkiDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, err := pki.NewCA("vfleet-lab-federation-ca")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca.CertPEM(), 0o644); err != nil {
		return err
	}
	var issue []pki.Issue
	for i, name := range f.names {
		issue = append(issue, pki.Issue{File: name, CA: ca, Request: pki.Request{
			CommonName: name, IPs: []net.IP{fedHubIP(i + 1)}, Usage: pki.ServerAuth | pki.ClientAuth,
		}})
	}
	// The operator's, for vfleet federation and the tests.
	issue = append(issue, pki.Issue{File: "operator", CA: ca, Request: pki.Request{CommonName: "operator", Usage: pki.ClientAuth}})
	return pki.IssueAll(dir, issue)
}

// Stop stops every region, the store's last, and removes the network.
func (f *Federation) Stop(ctx context.Context) error {
	var errs []error
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	for _, l := range f.regions[1:] {
		g.Go(func() error { return l.Stop(gctx) })
	}
	errs = append(errs, g.Wait(), f.regions[0].Stop(ctx))
	if f.net != nil {
		errs = append(errs, f.net.clear())
		f.net.release()
		f.net = nil
	}
	return errors.Join(errs...)
}

// Kill sends SIGKILL to every process of a region: its management
// cluster, hub, hosts, agents and control planes, as the loss of the
// region would.
func (f *Federation) Kill(region string) error {
	l := f.Region(region)
	if l == nil {
		return fmt.Errorf("no region %q", region)
	}
	var errs []error
	for _, c := range l.Clusters() {
		errs = append(errs, c.Kill())
	}
	return errors.Join(errs...)
}

// Cut cuts the hub of region from the hubs of peers (every other region
// when none are named): raft and the federation's API. The region keeps
// its management cluster, its hosts and the stores.
func (f *Federation) Cut(region string, peers ...string) error {
	i, err := f.index(region)
	if err != nil {
		return err
	}
	if len(peers) == 0 {
		peers = slices.DeleteFunc(slices.Clone(f.names), func(n string) bool { return n == region })
	}
	var js []int
	for _, p := range peers {
		j, err := f.index(p)
		if err != nil {
			return err
		}
		js = append(js, j)
	}
	return f.net.cut(i, js...)
}

// Heal undoes every cut.
func (f *Federation) Heal() error {
	if f.net == nil {
		return errors.New("the federation is not running")
	}
	var errs []error
	for i := range f.names {
		errs = append(errs, f.net.heal(i+1))
	}
	return errors.Join(errs...)
}

// index is region's number, from 1, in a running federation.
func (f *Federation) index(region string) (int, error) {
	i := slices.Index(f.names, region)
	if i < 0 || f.net == nil {
		return 0, fmt.Errorf("no running region %q", region)
	}
	return i + 1, nil
}

// Status asks region's hub for its view of the federation, with the
// operator's certificate.
func (f *Federation) Status(ctx context.Context, region string) (federation.Status, error) {
	i, err := f.index(region)
	if err != nil {
		return federation.Status{}, err
	}
	dir := f.pkiDir()
	o := federation.Options{CertFile: filepath.Join(dir, "operator.crt"), KeyFile: filepath.Join(dir, "operator.key"), CAFile: filepath.Join(dir, "ca.crt")}
	tc, err := o.TLS()
	if err != nil {
		return federation.Status{}, err
	}
	return federation.NewClient(tc).Status(ctx, net.JoinHostPort(fedHubIP(i).String(), strconv.Itoa(fedRaftPort)))
}

func (f *Federation) pkiDir() string { return filepath.Join(f.cfg.Dir, "federation-pki") }

// Dir is the federation's directory.
func (f *Federation) Dir() string { return f.cfg.Dir }

// FederationLeftovers lists what of a federation's network is on the
// machine: its bridge and namespaces. A stopped federation leaves none.
func FederationLeftovers() []string {
	var left []string
	for _, link := range fedLinks() {
		left = append(left, "link "+link)
	}
	for _, name := range fedNamespaces() {
		left = append(left, "network namespace "+name)
	}
	return left
}

// FederationRegionDirs are the directories of the regions of the
// federation lab in dir, region-1 first; none if dir holds no federation.
func FederationRegionDirs(dir string) []string {
	var dirs []string
	for i := 1; ; i++ {
		d := filepath.Join(dir, RegionName(i))
		if _, err := os.Stat(filepath.Join(d, stateFile)); err != nil {
			return dirs
		}
		dirs = append(dirs, d)
	}
}

// DownFederation stops the federation lab in dir, whichever process runs
// it, removes its network and deletes the directory.
func DownFederation(ctx context.Context, dir string) error {
	regions := FederationRegionDirs(dir)
	if len(regions) == 0 {
		return fmt.Errorf("no federation lab in %s (no %s)", dir, filepath.Join(RegionName(1), stateFile))
	}
	var errs []error
	// The last region first: the first keeps the stores.
	for i := len(regions) - 1; i >= 0; i-- {
		errs = append(errs, Down(ctx, regions[i]))
	}
	if n, err := lockFedNet(); err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, n.clear())
		n.release()
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}
