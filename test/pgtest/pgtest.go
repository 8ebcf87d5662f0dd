// Package pgtest starts a real PostgreSQL server for a test, from the
// distribution's binaries, and stops it when the test ends.
package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/lab/pgserver"
)

// Start runs a server in a temporary directory on a port no lab holds.
func Start(t testing.TB) *pgserver.Server {
	t.Helper()
	if _, err := pgserver.BinDir(); err != nil {
		t.Fatal(err)
	}
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	dir := t.TempDir()
	// Run as root, the server is the postgres user, which must be able to
	// enter the test's directories.
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := pgserver.Start(ctx, filepath.Join(dir, "pg"), ports[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s
}
