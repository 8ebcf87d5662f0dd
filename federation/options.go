package federation

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vfleet/vfleet/internal/pki"
)

// Options are a hub's federation flags. With no ID the hub is not
// federated.
type Options struct {
	// ID is the hub's raft server ID, Region the region it serves.
	ID, Region string
	// Dir holds the raft state; Bind and Advertise the peer's address.
	Dir, Bind, Advertise string
	// CertFile and KeyFile are the hub's certificate of the federation's
	// CA, which CAFile holds.
	CertFile, KeyFile, CAFile string
	// Bootstrap starts a new federation of this hub alone, the first time
	// (a directory with state is left as it is); Join is a member's
	// address to ask to add this hub, the first time.
	Bootstrap bool
	Join      string
	// ReportEvery is how often the hub reports its region's hosts.
	ReportEvery time.Duration
	// RegionLossAfter is how long a region may not report before the
	// surviving regions take its vclusters over.
	RegionLossAfter time.Duration
}

// NewOptions returns the defaults: not federated.
func NewOptions() Options {
	// A region's report is one small raft entry; every 2 s, a lost region
	// is seen within 10 s (five missed reports), which leaves most of the
	// 30 s a region's vclusters have to be Ready elsewhere to their fence
	// and start.
	return Options{Bind: ":7946", ReportEvery: 2 * time.Second, RegionLossAfter: 10 * time.Second}
}

// AddFlags binds the options to flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ID, "federation-id", o.ID, "this hub's ID in the federation of regional hubs (empty: not federated)")
	fs.StringVar(&o.Region, "federation-region", o.Region, "the region this hub serves in the federation")
	fs.StringVar(&o.Dir, "federation-dir", o.Dir, "directory of the federation's raft state")
	fs.StringVar(&o.Bind, "federation-bind-address", o.Bind, "address the federation's raft and API port listens on")
	fs.StringVar(&o.Advertise, "federation-advertise-address", o.Advertise, "address (IP:port) the other hubs reach this one at (default: the bind address)")
	fs.StringVar(&o.CertFile, "federation-cert-file", o.CertFile, "this hub's certificate of the federation's CA, for its advertised address, for client and server use")
	fs.StringVar(&o.KeyFile, "federation-key-file", o.KeyFile, "private key of --federation-cert-file")
	fs.StringVar(&o.CAFile, "federation-ca-file", o.CAFile, "the federation's CA certificate")
	fs.BoolVar(&o.Bootstrap, "federation-bootstrap", o.Bootstrap, "start a new federation of this hub alone (only over an empty --federation-dir)")
	fs.StringVar(&o.Join, "federation-join", o.Join, "address of a member to ask to add this hub (only over an empty --federation-dir)")
	fs.DurationVar(&o.ReportEvery, "federation-report-interval", o.ReportEvery, "how often the hub reports its region's hosts to the federation")
	fs.DurationVar(&o.RegionLossAfter, "federation-region-loss-after", o.RegionLossAfter, "how long a region may not report before the surviving regions fail its External vclusters over (at least 3 report intervals)")
}

// Enabled reports whether the hub is federated.
func (o *Options) Enabled() bool { return o.ID != "" }

// Validate reports every problem with the options of a federated hub.
func (o *Options) Validate() error {
	if !o.Enabled() {
		return nil
	}
	var errs []error
	if msgs := validation.IsDNS1123Label(o.ID); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--federation-id %q: %v", o.ID, msgs))
	}
	if msgs := validation.IsDNS1123Label(o.Region); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--federation-region %q: %v", o.Region, msgs))
	}
	if o.Dir == "" {
		errs = append(errs, errors.New("--federation-dir is required: raft keeps its log there"))
	}
	if o.CertFile == "" || o.KeyFile == "" || o.CAFile == "" {
		errs = append(errs, errors.New("--federation-cert-file, --federation-key-file and --federation-ca-file are required: hubs talk only mutual TLS"))
	}
	if o.Bootstrap && o.Join != "" {
		errs = append(errs, errors.New("--federation-bootstrap and --federation-join exclude each other: a hub starts a federation or joins one"))
	}
	if o.RegionLossAfter < 3*o.ReportEvery {
		errs = append(errs, fmt.Errorf("--federation-region-loss-after %s is shorter than 3 report intervals (--federation-report-interval %s): a region that missed one report would be taken for lost", o.RegionLossAfter, o.ReportEvery))
	}
	if o.ReportEvery < time.Second {
		errs = append(errs, fmt.Errorf("--federation-report-interval %s is too short: at least 1s", o.ReportEvery))
	}
	return errors.Join(errs...)
}

// TLS loads the hub's certificate and the federation's CA.
func (o *Options) TLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("the federation certificate: %w", err)
	}
	caPEM, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, err
	}
	pool, err := pki.Pool(caPEM)
	if err != nil {
		return nil, fmt.Errorf("--federation-ca-file: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool}, nil
}

// Start opens the hub's peer and, over an empty directory, bootstraps a
// federation or asks a member to add it, as the options say.
func (o *Options) Start(ctx context.Context) (*Peer, error) {
	cfg, err := o.TLS()
	if err != nil {
		return nil, err
	}
	p, err := Open(Config{ID: o.ID, Dir: o.Dir, Bind: o.Bind, Advertise: o.Advertise, TLS: cfg})
	if err != nil {
		return nil, err
	}
	switch {
	case p.existing:
		// A restart: the group knows this hub already.
	case o.Bootstrap:
		err = p.Bootstrap()
	case o.Join != "":
		err = p.client.Join(ctx, o.Join, o.ID, string(p.transport.LocalAddr()))
	default:
		err = fmt.Errorf("federation peer %s has no state in %s: start it with --federation-bootstrap (a new federation) or --federation-join (an existing one)", o.ID, o.Dir)
	}
	if err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}
