package postgres_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vfleet/vfleet/internal/pki"
	"github.com/vfleet/vfleet/lab/pgserver"
	"github.com/vfleet/vfleet/stores/postgres"
	"github.com/vfleet/vfleet/test/pgtest"
)

// TestFencing: an epoch's role writes through the owner; fencing it ends
// its open session and its logins; the next epoch reads and writes what the
// first made; dropping the database leaves no role behind.
func TestFencing(t *testing.T) {
	s := pgtest.Start(t)
	ctx := context.Background()
	admin := postgres.Admin{URL: postgres.URL(s.Endpoint(), "postgres", pgserver.AdminUser, s.AdminPassword(), "")}
	const db = "vfleet_test"
	var e1 string
	for _, password := range []string{"none", "first"} { // twice: it is idempotent, and sets the password
		var err error
		if e1, err = admin.ProvisionEpoch(ctx, db, 1, password); err != nil {
			t.Fatal(err)
		}
	}
	old, err := pgx.Connect(ctx, postgres.URL(s.Endpoint(), db, e1, "first", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = old.Close(ctx) }()
	if _, err := old.Exec(ctx, "CREATE TABLE kv (k text PRIMARY KEY, v text); INSERT INTO kv VALUES ('a', 'epoch 1')"); err != nil {
		t.Fatal(err)
	}

	e2, err := admin.ProvisionEpoch(ctx, db, 2, "second")
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Fence(ctx, db, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(ctx, "INSERT INTO kv VALUES ('b', 'after the fence')"); err == nil {
		t.Fatal("the fenced epoch's open session could still write")
	}
	if c, err := pgx.Connect(ctx, postgres.URL(s.Endpoint(), db, e1, "first", "")); err == nil {
		_ = c.Close(ctx)
		t.Fatal("the fenced epoch could log in again")
	}

	next, err := pgx.Connect(ctx, postgres.URL(s.Endpoint(), db, e2, "second", ""))
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := next.QueryRow(ctx, "SELECT v FROM kv WHERE k = 'a'").Scan(&v); err != nil || v != "epoch 1" {
		t.Fatalf("epoch 2 reads %q, %v", v, err)
	}
	if _, err := next.Exec(ctx, "INSERT INTO kv VALUES ('c', 'epoch 2')"); err != nil {
		t.Fatalf("epoch 2 cannot write: %v", err)
	}
	var n int
	if err := next.QueryRow(ctx, "SELECT count(*) FROM kv WHERE k = 'b'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("a write after the fence landed: %d, %v", n, err)
	}
	_ = next.Close(ctx)

	if err := admin.DropDatabase(ctx, db); err != nil {
		t.Fatal(err)
	}
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	for _, q := range []string{"SELECT count(*) FROM pg_database WHERE datname = $1", "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1 || '%'"} {
		var left int
		if err := conn.QueryRow(ctx, q, db).Scan(&left); err != nil || left != 0 {
			t.Fatalf("%s: %d left, %v", q, left, err)
		}
	}
}

// TestNothingInTheClear: connections are encrypted unless a store says
// otherwise, and the lab's server, as a store should be, refuses any that
// is not.
func TestNothingInTheClear(t *testing.T) {
	s := pgtest.Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, postgres.URL(s.Endpoint(), "postgres", pgserver.AdminUser, s.AdminPassword(), ""))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var ssl bool
	if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	if !ssl {
		t.Fatal("a connection with the default sslmode is not encrypted")
	}
	clear, err := pgx.Connect(ctx, postgres.URL(s.Endpoint(), "postgres", pgserver.AdminUser, s.AdminPassword(), "disable"))
	if err == nil {
		_ = clear.Close(ctx)
		t.Fatal("the server let a client in without TLS")
	}
	if !strings.Contains(err.Error(), "no encryption") {
		t.Errorf("refusal %q does not say it wants encryption", err)
	}
}

// TestVerifiesTheServer: with the store's CA, the hub speaks only to the
// server its certificate names (verify-full); a server of another CA is
// refused.
func TestVerifiesTheServer(t *testing.T) {
	s := pgtest.Start(t)
	ctx := context.Background()
	ca, err := s.CA()
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("someone else")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(s.Endpoint())
	for _, tc := range []struct {
		name, host string
		ca         []byte
		refused    string
	}{
		{name: "the server's CA", host: "127.0.0.1", ca: ca},
		{name: "another CA", host: "127.0.0.1", ca: other.CertPEM(), refused: "certificate signed by unknown authority"},
		{name: "no CA: the system's roots", host: "127.0.0.1", refused: "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin := postgres.Admin{URL: postgres.URL(net.JoinHostPort(tc.host, port), "postgres", pgserver.AdminUser, s.AdminPassword(), postgres.VerifiedSSLMode), CA: tc.ca}
			err := admin.Ping(ctx)
			switch {
			case tc.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
				t.Fatalf("got %v, want a refusal saying %q", err, tc.refused)
			}
		})
	}
}

// TestBackendCarriesTheCA: the CA a backend URL carries comes out whole,
// and leaves the URL as it was.
func TestBackendCarriesTheCA(t *testing.T) {
	url := postgres.URL("db:5432", "vc", "u", "p@ss", postgres.VerifiedSSLMode)
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	got, gotCA, err := postgres.TakeCA(postgres.WithCA(url, ca))
	if err != nil || got != url || string(gotCA) != string(ca) {
		t.Fatalf("TakeCA(WithCA) = %q, %q, %v; want %q, %q", got, gotCA, err, url, ca)
	}
	if got, gotCA, err := postgres.TakeCA(url); err != nil || got != url || gotCA != nil {
		t.Fatalf("TakeCA of a URL without a CA = %q, %q, %v", got, gotCA, err)
	}
}
