package lab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vfleet/vfleet/lab/pgserver"
)

// postgresFallbackRoot keeps the data of labs whose directory the postgres
// user cannot reach (a lab in /root when running as root).
const postgresFallbackRoot = "/var/lib/vfleet/lab-postgres"

// postgresDir is where the management cluster rooted at root keeps its
// PostgreSQL cluster: inside the lab when the postgres user can reach it,
// else in a directory named after the lab's path, which clearLab removes
// with the lab.
func postgresDir(root string) string {
	in := filepath.Join(root, "postgres")
	if pgserver.Reachable(in) == nil {
		return in
	}
	return postgresFallback(root)
}

func postgresFallback(root string) string {
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(postgresFallbackRoot, hex.EncodeToString(sum[:6]), "postgres")
}

// initPostgres initialises the PostgreSQL cluster once; its password is
// known from then on.
func (c *Cluster) initPostgres() (*pgserver.Cluster, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pg != nil {
		return c.pg, nil
	}
	if os.Geteuid() == 0 {
		// The server runs as the postgres user; a lab directory made by
		// MkdirTemp (0700) lets it through once it may traverse it.
		for _, d := range []string{filepath.Dir(c.paths.root), c.paths.root} {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
					return nil, err
				}
			}
		}
	}
	var also []net.IPNet
	if c.region != nil {
		also = append(also, c.region.Bridge)
	}
	pg, err := pgserver.Init(postgresDir(c.paths.root), also...)
	if err != nil {
		return nil, fmt.Errorf("%s: PostgreSQL: %w", c.Name, err)
	}
	c.pg = pg
	return pg, nil
}

// PostgresEndpoint is the lab's PostgreSQL server, host:port.
func (c *Cluster) PostgresEndpoint() string {
	return net.JoinHostPort(c.apiAddress().String(), strconv.Itoa(c.ports.Postgres))
}

// PostgresPassword is the lab PostgreSQL superuser's password; the user is
// pgserver.AdminUser.
func (c *Cluster) PostgresPassword() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pg == nil {
		return ""
	}
	return c.pg.Password
}
