// Package etcdtest starts a real etcd server for a test, from the built
// Kubernetes tools, with client certificates and auth on as vfleet wants
// its etcd stores, and stops it when the test ends.
package etcdtest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/lab/etcdserver"
	"github.com/vfleet/vfleet/stores/etcdstore"
	"github.com/vfleet/vfleet/test/envtest"
)

// Server is a running etcd server.
type Server struct {
	Endpoint string
	Creds    etcdstore.AdminCredentials
	Proc     *procgroup.Process
}

// Admin administers the server as root.
func (s *Server) Admin() etcdstore.Admin {
	return etcdstore.Admin{Endpoint: s.Endpoint, Creds: s.Creds}
}

// Start runs a server in a temporary directory on ports no lab holds.
func Start(t testing.TB) *Server {
	t.Helper()
	ports, release, err := portclaim.Ports(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	dir := t.TempDir()
	srv, err := etcdserver.Init(dir, filepath.Join(envtest.AssetsDir(), "etcd"))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := srv.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	proc, err := procgroup.Start(srv.Spec("store-etcd", ports[0], ports[1], filepath.Join(dir, "etcd.log")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := proc.Stop(context.Background(), 10*time.Second); err != nil {
			t.Error(err)
		}
	})
	s := &Server{Endpoint: fmt.Sprintf("https://127.0.0.1:%d", ports[0]), Creds: creds, Proc: proc}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := etcdserver.WaitReady(ctx, s.Endpoint, creds, proc); err != nil {
		t.Fatal(err)
	}
	if err := etcdserver.EnableAuth(ctx, s.Endpoint, creds); err != nil {
		t.Fatal(err)
	}
	return s
}

// RootClient connects as root, to look at what others wrote.
func (s *Server) RootClient() (*clientv3.Client, error) { return s.Creds.Client(s.Endpoint) }

// Leftovers are what is left of a dropped space: the keys below prefix,
// and the users and roles other than root.
func (s *Server) Leftovers(t testing.TB, prefix string) (keys int64, users, roles []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root := s.root(t)
	got, err := root.Get(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	u, err := root.UserList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := root.RoleList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return got.Count, slices.DeleteFunc(u.Users, func(n string) bool { return n == etcdserver.RootUser }), r.Roles
}

// DisableAuth turns auth off, as an operator might by mistake.
func (s *Server) DisableAuth(t testing.TB) {
	t.Helper()
	if _, err := s.root(t).AuthDisable(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// root is a root client closed when the test ends.
func (s *Server) root(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := s.RootClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
