package controlplane

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/k3s-io/kine/pkg/drivers/generic"
	"github.com/k3s-io/kine/pkg/endpoint"
	"github.com/prometheus/client_golang/prometheus"
)

// sqliteParams are kine's defaults for SQLite: WAL, a generous busy timeout.
const sqliteParams = "_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate&_stmt_cache_size=20&cache=shared"

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
	if etcd, ok, err := ParseEtcdBackend(backend); ok {
		if err != nil {
			return StoreEndpoint{}, err
		}
		return etcd.write(filepath.Join(dir, "pki"))
	}
	listener := "unix://" + filepath.Join(dir, "kine.sock")
	// The values kine's own CLI defaults to: the library refuses to start
	// without some of them (CompactBatchSize, for one).
	_, err := endpoint.Listen(ctx, endpoint.Config{
		Listener:             listener,
		WaitGroup:            wg,
		Endpoint:             backend,
		ConnectionPoolConfig: generic.ConnectionPoolConfig{MaxIdle: 2},
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
		return StoreEndpoint{}, fmt.Errorf("start kine over %s: %w", redact(backend), err)
	}
	return StoreEndpoint{Servers: listener}, nil
}

// StoreEndpoint is how the apiserver reaches its store.
type StoreEndpoint struct {
	// Servers is --etcd-servers.
	Servers string
	// Args are the apiserver's further --etcd-* flags.
	Args []string
}

// etcdBackendScheme starts a backend that is an External etcd store.
const etcdBackendScheme = "etcd+json:"

// EtcdBackend is an External etcd store as a control plane reaches it:
// its members, the vcluster's key prefix and the epoch's credentials. It
// travels as one backend string, like a kine endpoint, so that the
// runtimes pass either the same way.
type EtcdBackend struct {
	// Endpoints are the members' client URLs, comma-separated.
	Endpoints string `json:"endpoints"`
	// Prefix is the apiserver's --etcd-prefix.
	Prefix string `json:"prefix"`
	// CA verifies the server; Cert and Key are the epoch's client
	// certificate. PEM.
	CA   []byte `json:"ca,omitempty"`
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
}

// String encodes the backend.
func (b EtcdBackend) String() string {
	data, _ := json.Marshal(b)
	return etcdBackendScheme + base64.RawURLEncoding.EncodeToString(data)
}

// ParseEtcdBackend decodes a backend made by EtcdBackend.String; ok says
// whether backend is one at all.
func ParseEtcdBackend(backend string) (b EtcdBackend, ok bool, err error) {
	enc, ok := strings.CutPrefix(backend, etcdBackendScheme)
	if !ok {
		return EtcdBackend{}, false, nil
	}
	data, err := base64.RawURLEncoding.DecodeString(enc)
	if err == nil {
		err = json.Unmarshal(data, &b)
	}
	if err == nil && (b.Endpoints == "" || b.Prefix == "" || len(b.Cert) == 0 || len(b.Key) == 0) {
		err = errors.New("endpoints, prefix, certificate and key are required")
	}
	if err != nil {
		return EtcdBackend{}, true, fmt.Errorf("etcd backend: %w", err)
	}
	return b, true, nil
}

// write puts the credentials in dir, and returns the apiserver's flags.
// etcd compacts on its own: the apiserver's user may touch only its prefix,
// and compaction is the whole keyspace's.
func (b EtcdBackend) write(dir string) (StoreEndpoint, error) {
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

// EmbeddedBackend is the SQLite database of an Embedded vcluster.
func EmbeddedBackend(dataDir string) string {
	return "sqlite://" + filepath.Join(dataDir, "state.db") + "?" + sqliteParams
}

// redact hides credentials in a backend URL for messages.
func redact(backend string) string {
	if b, ok, _ := ParseEtcdBackend(backend); ok {
		return b.Endpoints + b.Prefix
	}
	if i := len("postgres://"); len(backend) > i && backend[:i] == "postgres://" {
		return "postgres://…"
	}
	return backend
}
