package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	neturl "net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/k3s-io/kine/pkg/drivers/generic"
	"github.com/k3s-io/kine/pkg/endpoint"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vfleet/vfleet/stores"
	"github.com/vfleet/vfleet/stores/postgres"
)

// StartStore gives the apiserver its store for backend until ctx ends,
// and returns how the apiserver reaches it. An etcd backend it reaches
// directly, with the epoch's client certificate written under dir. Any
// other backend is a kine endpoint: kine runs in this process, its etcd
// endpoint a unix socket in dir, so that no port is allocated and nothing
// outside the machine can reach it. wg is done once kine has stopped: its
// listener closed (which unlinks the socket) and its database released. A
// control plane restarted on the same directory must wait for it, or the
// old kine's shutdown would unlink the new socket.
func StartStore(ctx context.Context, wg *sync.WaitGroup, dir, backend string) (StoreEndpoint, error) {
	if etcd, ok, err := stores.ParseEtcdBackend(backend); ok {
		if err != nil {
			return StoreEndpoint{}, err
		}
		return writeEtcdCredentials(etcd, filepath.Join(dir, "pki"))
	}
	backend, err := withStoreCA(backend, filepath.Join(dir, "pki"))
	if err != nil {
		return StoreEndpoint{}, err
	}
	sock, removeSock, err := socketPath(dir)
	if err != nil {
		return StoreEndpoint{}, err
	}
	listener := "unix://" + sock
	// The values kine's own CLI defaults to: the library refuses to start
	// without some of them (CompactBatchSize, for one).
	_, err = endpoint.Listen(ctx, endpoint.Config{
		Listener:             listener,
		WaitGroup:            wg,
		Endpoint:             backend,
		ConnectionPoolConfig: storePool,
		// A registry of its own: two control planes in one process (tests)
		// must not register the same metrics twice.
		MetricsRegisterer:   prometheus.NewRegistry(),
		NotifyInterval:      5 * time.Second,
		EmulatedETCDVersion: "3.6.11",
		CompactInterval:     5 * time.Minute,
		CompactTimeout:      5 * time.Second,
		CompactMinRetain:    1000,
		CompactBatchSize:    1000,
		PollBatchSize:       500,
	})
	if err != nil {
		removeSock()
		return StoreEndpoint{}, fmt.Errorf("start kine over %s: %w", stores.Redact(backend), err)
	}
	go func() {
		<-ctx.Done()
		wg.Wait()
		removeSock()
	}()
	return StoreEndpoint{Servers: listener}, nil
}

// storePool is kine's pool of connections to its database. Every
// connection to PostgreSQL costs the server a process, and its opening a
// TLS handshake and a SCRAM exchange on both sides. With two kept idle
// (kine's CLI default), the bursts of an apiserver's start (a list per
// resource for its watch cache) and of its controllers opened and closed
// them by the dozen: 64 sessions for one failover on a lab, and two more
// a second after it; on a loaded machine that cost a start more CPU than
// kine's own work. Ten, kept for a minute idle, absorb the bursts (10
// sessions for the same failover, none after); an idle vcluster shrinks
// to the two that kine's poll and the controllers' leases use. The cap
// keeps a fleet's vclusters within the server's max_connections (the
// README says how to size it): twenty starting at once with sixteen each
// took all of a lab server's 200, and the control planes whose login it
// refused failed to start.
var storePool = generic.ConnectionPoolConfig{MaxIdle: 10, MaxOpen: 10, MaxIdleTime: time.Minute}

// maxSocketPath is the longest path a unix socket may have: sun_path is
// 108 bytes on Linux, with its terminating NUL.
const maxSocketPath = 107

// socketPath is where kine's socket goes: in dir, unless that path is too
// long for a socket (a long data directory, and a vcluster and namespace
// of up to 63 characters each), then in a private directory of its own
// under the system's temporary directory, named for dir: one a control
// plane of dir left when it was killed is taken over by the next, and
// RemoveSocketDir removes it with dir. remove removes that directory,
// once kine has stopped.
func socketPath(dir string) (path string, remove func(), err error) {
	if p := filepath.Join(dir, "kine.sock"); len(p) <= maxSocketPath {
		return p, func() {}, nil
	}
	short, err := socketDir(dir)
	if err != nil {
		return "", nil, err
	}
	// Only a control plane of dir uses it, and only one runs at a time.
	// Made afresh, so that nobody else's directory is ever used: one put
	// there in between makes Mkdir fail.
	if err := os.RemoveAll(short); err != nil {
		return "", nil, fmt.Errorf("remove the last socket directory of %s: %w", dir, err)
	}
	if err := os.Mkdir(short, 0o700); err != nil {
		return "", nil, fmt.Errorf("a directory for kine's socket: %w", err)
	}
	return filepath.Join(short, "kine.sock"), func() { _ = os.RemoveAll(short) }, nil
}

// socketDir names the directory of socketPath for a long dir.
func socketDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(os.TempDir(), "vfleet-kine-"+hex.EncodeToString(sum[:8])), nil
}

// RemoveSocketDir removes what a control plane whose data directory is
// dir may keep outside it, kine's socket: call it when dir goes, once its
// control plane has stopped.
func RemoveSocketDir(dir string) error {
	short, err := socketDir(dir)
	if err != nil {
		return err
	}
	return os.RemoveAll(short)
}

// StoreEndpoint is how the apiserver reaches its store.
type StoreEndpoint struct {
	// Servers is --etcd-servers.
	Servers string
	// Args are the apiserver's further --etcd-* flags.
	Args []string
}

// writeEtcdCredentials puts the credentials in dir, and returns the apiserver's flags.
// etcd compacts on its own: the apiserver's user may touch only its prefix,
// and compaction is the whole keyspace's.
func writeEtcdCredentials(b stores.EtcdBackend, dir string) (StoreEndpoint, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return StoreEndpoint{}, err
	}
	files := map[string][]byte{"store-etcd-client.crt": b.Cert, "store-etcd-client.key": b.Key}
	args := []string{
		"--etcd-prefix=" + b.Prefix,
		"--etcd-certfile=" + filepath.Join(dir, "store-etcd-client.crt"),
		"--etcd-keyfile=" + filepath.Join(dir, "store-etcd-client.key"),
		"--etcd-compaction-interval=0",
	}
	if len(b.CA) > 0 {
		files["store-etcd-ca.crt"] = b.CA
		args = append(args, "--etcd-cafile="+filepath.Join(dir, "store-etcd-ca.crt"))
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return StoreEndpoint{}, err
		}
	}
	return StoreEndpoint{Servers: b.Endpoints, Args: args}, nil
}

// withStoreCA writes the CA a PostgreSQL backend carries to dir, and points
// the backend's sslrootcert at it: kine reads the CA from a file only.
func withStoreCA(backend, dir string) (string, error) {
	url, ca, err := postgres.TakeCA(backend)
	if err != nil || ca == nil {
		return url, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "store-ca.crt")
	if err := os.WriteFile(path, ca, 0o600); err != nil {
		return "", err
	}
	return url + "&sslrootcert=" + neturl.QueryEscape(path), nil
}
