package etcdstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/vfleet/vfleet/internal/pki"
	"github.com/vfleet/vfleet/lab/etcdserver"
	"github.com/vfleet/vfleet/stores/etcdstore"
	"github.com/vfleet/vfleet/test/etcdtest"
)

// epochClient connects as an epoch's user.
func epochClient(t *testing.T, endpoint string, c etcdstore.EpochCredentials) *clientv3.Client {
	t.Helper()
	cfg, err := c.TLS()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: cfg, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// TestFencing runs on a real etcd server: an epoch's user is confined to
// its space, a fenced epoch cannot write even on the connection it had
// open, the next epoch reads what the first wrote, and dropping the space
// leaves nothing behind.
func TestFencing(t *testing.T) {
	s := etcdtest.Start(t)
	admin := s.Admin()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := admin.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	const space = "vfleet-0f1e"
	if err := admin.EnsureSpace(ctx, space); err != nil {
		t.Fatal(err)
	}
	// Again: nothing new, no error.
	if err := admin.EnsureSpace(ctx, space); err != nil {
		t.Fatal(err)
	}
	e1, err := admin.EnsureEpochUser(ctx, space, 1)
	if err != nil {
		t.Fatal(err)
	}
	cli1 := epochClient(t, s.Endpoint, e1)
	key := etcdstore.Prefix(space) + "/registry/x"
	if _, err := cli1.Put(ctx, key, "epoch 1"); err != nil {
		t.Fatalf("epoch 1 writes its space: %v", err)
	}
	for _, outside := range []string{"/vfleet-other/x", etcdstore.Prefix(space), "/x"} {
		if _, err := cli1.Put(ctx, outside, "no"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("epoch 1 writing %s: got %v, want permission denied", outside, err)
		}
	}

	// A renewed certificate is the same user's, with the same rights.
	renewed, err := admin.RenewEpochCert(ctx, space, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(renewed.Cert) == string(e1.Cert) || renewed.User != e1.User {
		t.Fatalf("renewal gave user %s the same certificate, or another user %s", e1.User, renewed.User)
	}
	if _, err := epochClient(t, s.Endpoint, renewed).Put(ctx, key, "epoch 1, renewed"); err != nil {
		t.Fatalf("the renewed certificate does not write the epoch's space: %v", err)
	}

	if err := admin.Fence(ctx, space, 1); err != nil {
		t.Fatal(err)
	}
	// Fencing twice is fencing.
	if err := admin.Fence(ctx, space, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := cli1.Put(ctx, key, "late"); err == nil {
		t.Error("the fenced epoch's open connection still writes")
	}
	// Renewal never brings a fenced epoch back.
	if _, err := admin.RenewEpochCert(ctx, space, 1); err == nil || !strings.Contains(err.Error(), "fenced") {
		t.Errorf("renewing a fenced epoch: got %v, want an error saying it was fenced", err)
	}
	if _, err := epochClient(t, s.Endpoint, renewed).Put(ctx, key, "late"); err == nil {
		t.Error("the fenced epoch writes with its renewed certificate")
	}
	if _, err := epochClient(t, s.Endpoint, e1).Get(ctx, key); err == nil {
		t.Error("the fenced epoch reads on a new connection")
	}

	e2, err := admin.EnsureEpochUser(ctx, space, 2)
	if err != nil {
		t.Fatal(err)
	}
	cli2 := epochClient(t, s.Endpoint, e2)
	got, err := cli2.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "epoch 1, renewed" {
		t.Errorf("epoch 2 reads %v, want epoch 1's write", got.Kvs)
	}
	if _, err := cli2.Put(ctx, key, "epoch 2"); err != nil {
		t.Fatal(err)
	}

	if err := admin.DropSpace(ctx, space); err != nil {
		t.Fatal(err)
	}
	if keys, users, roles := s.Leftovers(t, etcdstore.Prefix(space)); keys != 0 || len(users) != 0 || len(roles) != 0 {
		t.Errorf("after the drop: %d keys, users %v, roles %v; want nothing but root", keys, users, roles)
	}
}

// TestPingSaysWhatIsWrong: auth off, a certificate that is not root's, and
// nothing listening each get their own error.
func TestPingSaysWhatIsWrong(t *testing.T) {
	s := etcdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := s.Admin()
	if err := admin.EnsureSpace(ctx, "vfleet-x"); err != nil {
		t.Fatal(err)
	}
	e1, err := admin.EnsureEpochUser(ctx, "vfleet-x", 1)
	if err != nil {
		t.Fatal(err)
	}
	notRoot := admin
	notRoot.Creds.Cert, notRoot.Creds.Key = e1.Cert, e1.Key
	var authErr *etcdstore.AuthError
	if err := notRoot.Ping(ctx); !errors.As(err, &authErr) || authErr.User != "vfleet-x-e1" {
		t.Errorf("ping with an epoch's certificate: %v, want an AuthError naming vfleet-x-e1", err)
	}

	s.DisableAuth(t)
	if err := admin.Ping(ctx); !errors.Is(err, etcdstore.ErrAuthDisabled) {
		t.Errorf("ping with auth off: %v, want ErrAuthDisabled", err)
	}

	// Certificates from a CA the other side does not trust: the error
	// says so, not only that the server did not answer.
	other, err := pki.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.Issue(pki.Request{CommonName: etcdserver.RootUser, Usage: pki.ClientAuth})
	if err != nil {
		t.Fatal(err)
	}
	wrongCA, wrongCert := admin, admin
	wrongCA.Creds.ServerCA = other.CertPEM()
	wrongCert.Creds.Cert, wrongCert.Creds.Key = stranger.CertPEM, stranger.KeyPEM
	for _, tc := range []struct {
		name  string
		admin etcdstore.Admin
		says  string
	}{
		{"server CA", wrongCA, "certificate signed by unknown authority"},
		{"client certificate", wrongCert, "remote error: tls"},
	} {
		short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
		var unreachable *etcdstore.UnreachableError
		if err := tc.admin.Ping(short); !errors.As(err, &unreachable) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("ping with a wrong %s: %v, want an UnreachableError saying %q", tc.name, err, tc.says)
		}
		cancelShort()
	}

	down := admin
	down.Endpoint = "https://127.0.0.1:1"
	short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
	defer cancelShort()
	var unreachable *etcdstore.UnreachableError
	if err := down.Ping(short); !errors.As(err, &unreachable) {
		t.Errorf("ping where nothing listens: %v, want an UnreachableError", err)
	}
}
