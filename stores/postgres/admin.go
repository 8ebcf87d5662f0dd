// Package postgres administers a PostgreSQL server for vfleet: a database
// and owner role per vcluster, a login role per placement epoch, and fencing
// by taking an epoch's login away.
package postgres

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A vcluster's state on a PostgreSQL server is one database, owned by a
// role that cannot log in (its owner role). Each placement epoch gets a
// login role of its own, a member of the owner role, whose sessions act as
// the owner role: tables made under one epoch belong to the owner and stay
// usable by the next. Fencing an epoch is taking its login away and ending
// its sessions; the next epoch's role is untouched.

// Admin administers vclusters' databases on a server, as a superuser.
type Admin struct {
	// URL connects as the superuser to the server's "postgres" database.
	URL string
	// CA, PEM, verifies the server when the URL's sslmode asks to
	// (verify-ca, verify-full); without it, the system's roots do.
	CA []byte
}

// Owner is the owner role of a vcluster's database.
func Owner(database string) string { return database + "_owner" }

// EpochRole is the login role of one epoch of a vcluster.
func EpochRole(database string, epoch int64) string { return fmt.Sprintf("%s_e%d", database, epoch) }

// connect opens a session as the superuser.
func (a Admin) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(a.URL)
	if err != nil {
		return nil, err
	}
	if len(a.CA) > 0 {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(a.CA) {
			return nil, errors.New("the store's CA holds no PEM certificate")
		}
		// Every TLS attempt pgx would make: the first, and its fallbacks.
		for _, tc := range append([]*tls.Config{cfg.TLSConfig}, fallbackTLS(cfg)...) {
			if tc != nil {
				tc.RootCAs = roots
			}
		}
	}
	return pgx.ConnectConfig(ctx, cfg)
}

func fallbackTLS(cfg *pgx.ConnConfig) []*tls.Config {
	var out []*tls.Config
	for _, f := range cfg.Fallbacks {
		out = append(out, f.TLSConfig)
	}
	return out
}

// session runs f over one superuser connection, which every statement of
// an operation shares: a connection costs the server a process, a TLS
// handshake and an authentication, dear when many vclusters fail over at
// once on a loaded machine.
func (a Admin) session(ctx context.Context, f func(s session) error) error {
	conn, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	return f(session{conn})
}

// session is one superuser connection.
type session struct{ conn *pgx.Conn }

func (s session) exec(ctx context.Context, sql string, args ...any) error {
	_, err := s.conn.Exec(ctx, sql, args...)
	return err
}

func (s session) exists(ctx context.Context, query, name string) (bool, error) {
	var n int
	if err := s.conn.QueryRow(ctx, query, name).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// Ping checks that the server answers and the credentials work.
func (a Admin) Ping(ctx context.Context) error {
	return a.session(ctx, func(s session) error { return s.conn.Ping(ctx) })
}

// ProvisionEpoch creates the vcluster's owner role and database, if they
// are missing, and creates (or sets the password of) the login role of an
// epoch, whose sessions act as the database's owner; it returns the
// role's name.
func (a Admin) ProvisionEpoch(ctx context.Context, database string, epoch int64, password string) (role string, err error) {
	err = a.session(ctx, func(s session) error {
		if err := s.ensureDatabase(ctx, database); err != nil {
			return err
		}
		role, err = s.ensureEpochRole(ctx, database, epoch, password)
		return err
	})
	return role, err
}

func (s session) ensureDatabase(ctx context.Context, database string) error {
	owner := pgx.Identifier{Owner(database)}.Sanitize()
	if ok, err := s.exists(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = $1", Owner(database)); err != nil {
		return err
	} else if !ok {
		if err := s.exec(ctx, "CREATE ROLE "+owner+" NOLOGIN"); err != nil && !duplicate(err) {
			return fmt.Errorf("create owner role of %s: %w", database, err)
		}
	}
	if ok, err := s.exists(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", database); err != nil {
		return err
	} else if !ok {
		// CREATE DATABASE cannot run in a transaction, nor take parameters.
		if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{database}.Sanitize()+" OWNER "+owner); err != nil && !duplicate(err) {
			return fmt.Errorf("create database %s: %w", database, err)
		}
	}
	return nil
}

func (s session) ensureEpochRole(ctx context.Context, database string, epoch int64, password string) (string, error) {
	role := EpochRole(database, epoch)
	id := pgx.Identifier{role}.Sanitize()
	ok, err := s.exists(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = $1", role)
	if err != nil {
		return "", err
	}
	stmts := []string{}
	if !ok {
		stmts = append(stmts, "CREATE ROLE "+id+" LOGIN IN ROLE "+pgx.Identifier{Owner(database)}.Sanitize())
	}
	stmts = append(stmts,
		"ALTER ROLE "+id+" WITH LOGIN PASSWORD "+quote(password),
		// Every session of the epoch acts as the owner: what it creates the
		// next epoch can use.
		"ALTER ROLE "+id+" SET role = "+quote(Owner(database)),
		"REVOKE CONNECT ON DATABASE "+pgx.Identifier{database}.Sanitize()+" FROM PUBLIC",
		"GRANT CONNECT ON DATABASE "+pgx.Identifier{database}.Sanitize()+" TO "+id,
	)
	for _, st := range stmts {
		if err := s.exec(ctx, st); err != nil && !duplicate(err) {
			return "", fmt.Errorf("epoch role %s: %w", role, err)
		}
	}
	return role, nil
}

// Fence ends an epoch's hold on the database: its role can no longer log
// in or connect, and its open sessions are terminated. Once it returns, no
// write of that epoch can land.
func (a Admin) Fence(ctx context.Context, database string, epoch int64) error {
	role := EpochRole(database, epoch)
	return a.session(ctx, func(s session) error {
		if ok, err := s.exists(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = $1", role); err != nil || !ok {
			return err
		}
		id := pgx.Identifier{role}.Sanitize()
		for _, st := range []string{
			"ALTER ROLE " + id + " NOLOGIN",
			"REVOKE CONNECT ON DATABASE " + pgx.Identifier{database}.Sanitize() + " FROM " + id,
		} {
			if err := s.exec(ctx, st); err != nil {
				return fmt.Errorf("fence %s: %w", role, err)
			}
		}
		// Sessions that were open keep their rights until they end: end
		// them.
		return s.exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
	})
}

// DropDatabase removes a vcluster's database and all its roles, ending the
// sessions that use them.
func (a Admin) DropDatabase(ctx context.Context, database string) error {
	return a.session(ctx, func(s session) error {
		if err := s.exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database); err != nil {
			return err
		}
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{database}.Sanitize()); err != nil {
			return fmt.Errorf("drop database %s: %w", database, err)
		}
		rows, err := s.conn.Query(ctx, "SELECT rolname FROM pg_roles WHERE rolname LIKE $1 OR rolname = $2", database+`\_e%`, Owner(database))
		if err != nil {
			return err
		}
		roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		// Epoch roles first: they are members of the owner.
		for _, r := range roles {
			if r == Owner(database) {
				continue
			}
			if err := s.exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize()); err != nil {
				return fmt.Errorf("drop role %s: %w", r, err)
			}
		}
		return s.exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{Owner(database)}.Sanitize())
	})
}

// quote is a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// duplicate reports PostgreSQL's "already exists" errors, which a
// concurrent or repeated Ensure may meet.
func duplicate(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "42710" || pg.Code == "42P04")
}

// DefaultSSLMode is the sslmode of a store that names none: encrypted,
// so that credentials and state never cross the network in the clear.
const DefaultSSLMode = "require"

// VerifiedSSLMode is the sslmode of a store whose CA the admin gives, unless
// it names another: encrypted, and to the server the endpoint names only.
const VerifiedSSLMode = "verify-full"

// URL is a connection URL for database at hostport, which is also kine's
// endpoint for it.
func URL(hostport, database, user, password, sslmode string) string {
	if sslmode == "" {
		sslmode = DefaultSSLMode
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: hostport, Path: "/" + database, RawQuery: "sslmode=" + sslmode}
	return u.String()
}

// caParam carries, in a control plane's backend URL, the CA that verifies
// the server: PEM, base64url. The control plane writes it to a file for
// kine (sslrootcert) and takes it out of the URL, which PostgreSQL would
// otherwise read as a setting.
const caParam = "vfleet-ca"

// WithCA adds the server's CA to a backend URL.
func WithCA(backend string, ca []byte) string {
	if len(ca) == 0 {
		return backend
	}
	return backend + "&" + caParam + "=" + base64.RawURLEncoding.EncodeToString(ca)
}

// TakeCA takes the CA WithCA added out of a backend URL; it returns the URL
// as it was, and nil, when there is none.
func TakeCA(backend string) (string, []byte, error) {
	u, err := url.Parse(backend)
	if err != nil || !u.Query().Has(caParam) {
		return backend, nil, nil
	}
	q := u.Query()
	ca, err := base64.RawURLEncoding.DecodeString(q.Get(caParam))
	if err != nil {
		return "", nil, fmt.Errorf("the backend's %s is not base64url: %w", caParam, err)
	}
	q.Del(caParam)
	u.RawQuery = q.Encode()
	return u.String(), ca, nil
}

// NewPassword is a random password for a login.
func NewPassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
