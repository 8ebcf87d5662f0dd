package controlplane

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/k3s-io/kine/pkg/drivers/generic"
	"github.com/k3s-io/kine/pkg/endpoint"
	"github.com/prometheus/client_golang/prometheus"
)

// sqliteParams are kine's defaults for SQLite: WAL, a generous busy timeout.
const sqliteParams = "_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate&_stmt_cache_size=20&cache=shared"

// StartStore runs kine in this process over the given backend until ctx
// ends, and returns the etcd endpoint the apiserver uses: a unix socket in
// dir, so that no port is allocated and nothing outside the machine can
// reach it. wg is done once kine has stopped: its listener closed (which
// unlinks the socket) and its database released. A control plane
// restarted on the same directory must wait for it, or the old kine's
// shutdown would unlink the new socket.
func StartStore(ctx context.Context, wg *sync.WaitGroup, dir, backend string) (string, error) {
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
		return "", fmt.Errorf("start kine over %s: %w", redact(backend), err)
	}
	return listener, nil
}

// EmbeddedBackend is the SQLite database of an Embedded vcluster.
func EmbeddedBackend(dataDir string) string {
	return "sqlite://" + filepath.Join(dataDir, "state.db") + "?" + sqliteParams
}

// redact hides credentials in a backend URL for messages.
func redact(backend string) string {
	if i := len("postgres://"); len(backend) > i && backend[:i] == "postgres://" {
		return "postgres://…"
	}
	return backend
}
