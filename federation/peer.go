package federation

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Config is one hub's raft peer.
type Config struct {
	// ID is the peer's raft server ID, a DNS label unique in the
	// federation: the region's hub.
	ID string
	// Dir holds the raft log, its stable state and snapshots.
	Dir string
	// Bind is the host:port the peer listens at (port 0 picks one);
	// Advertise the one its peers dial, the listener's if empty. Advertise
	// must be an IP address, not a wildcard, and the peer's certificate
	// must name it.
	Bind, Advertise string
	// TLS has the peer's certificate (for serving and as a client) and the
	// federation's CA as both RootCAs and ClientCAs.
	TLS *tls.Config
	// Timing is raft's; zero values take DefaultTiming.
	Timing Timing
	// Log receives raft's log, as JSON lines; nil is stderr.
	Log io.Writer
}

// Timing is how fast raft notices a lost leader.
type Timing struct {
	Heartbeat, Election, LeaderLease time.Duration
}

// DefaultTiming is twice raft's own defaults, which are made for one
// datacenter: regions are further apart, and a hub shares its machine. A
// leader that cannot reach a quorum within its lease steps down, and a
// CPU stall of half a second (raft's lease) made one do so on a loaded
// lab; the next leader may be a region that another cannot reach, which
// then looks lost. Noticing a lost leader a second later costs little
// beside the region-loss time (10s).
var DefaultTiming = Timing{Heartbeat: 2 * time.Second, Election: 2 * time.Second, LeaderLease: time.Second}

// Peer is one hub's member of the federation's raft group.
type Peer struct {
	id        string
	raft      *raft.Raft
	fsm       *fsm
	wal       *wal.WAL
	meta      *metadb.BoltMetaDB
	transport *raft.NetworkTransport
	stream    *tlsStream
	api       *http.Server
	client    *Client
	existing  bool
	// heartbeat is the group's heartbeat timeout: a follower that has not
	// heard from a leader in twice that is cut off from it.
	heartbeat time.Duration
}

// ErrExistingState is returned by Bootstrap on a directory that already
// holds a raft group's state.
var ErrExistingState = errors.New("the directory already holds raft state")

// Open starts the peer over cfg.Dir, with whatever state it holds: a peer
// restarted over its directory rejoins its group as it left it.
func Open(cfg Config) (*Peer, error) {
	if errs := validation.IsDNS1123Label(cfg.ID); len(errs) > 0 {
		return nil, fmt.Errorf("federation peer ID %q: %v", cfg.ID, errs)
	}
	if cfg.TLS == nil || len(cfg.TLS.Certificates) == 0 || cfg.TLS.RootCAs == nil || cfg.TLS.ClientCAs == nil {
		return nil, errors.New("a federation peer needs its certificate and the federation's CA: peers talk only mutual TLS")
	}
	out := cfg.Log
	if out == nil {
		out = os.Stderr
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: out, JSONFormat: true, Level: hclog.Info})

	log, meta, err := openLog(cfg.Dir, logger)
	if err != nil {
		return nil, fmt.Errorf("federation peer %s: %w", cfg.ID, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, logger.Named("snapshots"))
	if err != nil {
		return nil, errors.Join(err, closeStore(log, meta))
	}
	existing, err := raft.HasExistingState(log, log, snaps)
	if err != nil {
		return nil, errors.Join(err, closeStore(log, meta))
	}
	ln, err := net.Listen("tcp", cfg.Bind)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("federation peer %s: %w", cfg.ID, err), closeStore(log, meta))
	}
	advertise := cfg.Advertise
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	if host, _, err := net.SplitHostPort(advertise); err != nil || net.ParseIP(host) == nil || net.ParseIP(host).IsUnspecified() {
		return nil, errors.Join(fmt.Errorf("federation peer %s: advertise an IP address and port its peers can dial, not %q", cfg.ID, advertise),
			ln.Close(), closeStore(log, meta))
	}
	server := cfg.TLS.Clone()
	server.ClientAuth = tls.RequireAndVerifyClientCert
	server.MinVersion = tls.VersionTLS13
	client := cfg.TLS.Clone()
	client.MinVersion = tls.VersionTLS13
	stream := newTLSStream(ln, addr(advertise), server, client, func(remote net.Addr, err error) {
		logger.Warn("refused a federation connection", "remote", remote.String(), "error", err.Error())
	})
	transport := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 3, Timeout: 10 * time.Second, Logger: logger.Named("transport"),
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = logger
	t := cfg.Timing
	if t.Heartbeat <= 0 {
		t = DefaultTiming
	}
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = t.Heartbeat, t.Election, t.LeaderLease
	f := newFSM()
	r, err := raft.NewRaft(rc, f, log, log, snaps, transport)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("federation peer %s: %w", cfg.ID, err), transport.Close(), closeStore(log, meta))
	}
	p := &Peer{id: cfg.ID, raft: r, fsm: f, wal: log, meta: meta, transport: transport, stream: stream, client: NewClient(client), existing: existing, heartbeat: rc.HeartbeatTimeout}
	p.serveAPI()
	return p, nil
}

// Bootstrap makes the peer a federation of one, which others then join.
// It refuses a directory that already holds a group's state: bootstrapping
// a second time would start a second federation.
func (p *Peer) Bootstrap() error {
	if p.existing {
		return fmt.Errorf("federation peer %s: %w; bootstrap only a new federation, and add this hub to an existing one with join", p.id, ErrExistingState)
	}
	return p.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{
		{ID: raft.ServerID(p.id), Address: p.transport.LocalAddr(), Suffrage: raft.Voter},
	}}).Error()
}

// Close stops the peer; its directory keeps its state.
func (p *Peer) Close() error {
	err := p.raft.Shutdown().Error()
	return errors.Join(err, p.stopAPI(), p.transport.Close(), closeStore(p.wal, p.meta))
}

// openLog opens the raft log kept in dir/wal. raft-wal before v0.4.1 sealed
// a segment without its index block when raft cut the log's tail (a
// follower dropping entries a new leader never committed), and the next
// start then panicked in raft.NewRaft: a hub killed after such a cut could
// never come back (raft-wal#31).
//
// The WAL's Close leaves its metadata database open (and locked), so the
// caller holds it to close it itself.
func openLog(dir string, logger hclog.Logger) (*wal.WAL, *metadb.BoltMetaDB, error) {
	if err := os.MkdirAll(filepath.Join(dir, "wal"), 0o700); err != nil {
		return nil, nil, err
	}
	meta := &metadb.BoltMetaDB{}
	log, err := wal.Open(filepath.Join(dir, "wal"), wal.WithLogger(logger.Named("wal")), wal.WithMetaStore(meta))
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("raft log in %s: %w", dir, err), meta.Close())
	}
	return log, meta, nil
}

// closeStore closes the raft log and then its metadata database.
func closeStore(log *wal.WAL, meta *metadb.BoltMetaDB) error {
	return errors.Join(log.Close(), meta.Close())
}
