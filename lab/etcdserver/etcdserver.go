// Package etcdserver runs an etcd server fit to hold vclusters' state, as
// stores/etcdstore expects one: clients authenticated by certificate only
// (the user is the certificate's common name) and auth enabled. The lab's
// etcd backing store and the tests of control planes over etcd use it.
package etcdserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vfleet/vfleet/internal/pki"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/stores/etcdstore"
)

// RootUser is etcd's superuser; the admin certificate names it.
const RootUser = "root"

// Files of a server's PKI, in its directory's pki/.
const (
	// caFile signs the server's certificate and every client's: etcd
	// trusts it for clients, clients trust it for the server.
	caFile     = "ca"
	serverFile = "server"
	rootFile   = "root"
)

// Server is an initialised etcd data directory with its PKI, ready to run.
type Server struct {
	// Dir holds data/, pki/ and the log.
	Dir string
	// Binary is the etcd executable.
	Binary string
	// Also are addresses the server serves clients at besides loopback.
	Also []net.IP
}

// Init writes the PKI in dir unless it is there: a CA, a serving
// certificate for the loopback addresses and also, and a client certificate
// for the root user. The server serves clients on loopback and at also.
func Init(dir, binary string, also ...net.IP) (*Server, error) {
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("etcd binary: %w", err)
	}
	s := &Server{Dir: dir, Binary: binary, Also: also}
	if _, err := os.Stat(s.pki(caFile + ".crt")); err == nil {
		return s, nil
	}
	if err := os.MkdirAll(s.pki(""), 0o700); err != nil {
		return nil, err
	}
	ca, err := pki.NewCA("vfleet-store-etcd-ca")
	if err != nil {
		return nil, err
	}
	ips := append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, also...)
	if err := pki.IssueAll(s.pki(""), []pki.Issue{
		{File: serverFile, CA: ca, Request: pki.Request{CommonName: "vfleet-store-etcd", DNSNames: []string{"localhost"}, IPs: ips, Usage: pki.ServerAuth | pki.ClientAuth}},
		{File: rootFile, CA: ca, Request: pki.Request{CommonName: RootUser, Usage: pki.ClientAuth}},
	}); err != nil {
		return nil, err
	}
	// The CA last: its presence says the PKI is complete.
	kp, err := ca.KeyPair()
	if err != nil {
		return nil, err
	}
	if _, _, err := kp.Write(s.pki(""), caFile); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) pki(name string) string { return filepath.Join(s.Dir, "pki", name) }

// Spec is how to run the server on 127.0.0.1, clients at clientPort and
// its (only) peer at peerPort, its log in logFile. etcd compacts on its
// own: the apiservers over it cannot, their users are confined to their
// prefixes and compaction is the whole keyspace's.
func (s *Server) Spec(name string, clientPort, peerPort int, logFile string) procgroup.Spec {
	client, peer := "https://127.0.0.1:"+strconv.Itoa(clientPort), "https://127.0.0.1:"+strconv.Itoa(peerPort)
	clients := client
	for _, ip := range s.Also {
		clients += ",https://" + net.JoinHostPort(ip.String(), strconv.Itoa(clientPort))
	}
	return procgroup.Spec{
		Name: name, Path: s.Binary, LogFile: logFile,
		Args: []string{
			"--name=store",
			"--data-dir=" + filepath.Join(s.Dir, "data"),
			"--listen-client-urls=" + clients,
			"--advertise-client-urls=" + clients,
			"--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=store=" + peer,
			"--initial-cluster-state=new",
			"--client-cert-auth",
			"--trusted-ca-file=" + s.pki(caFile+".crt"),
			"--cert-file=" + s.pki(serverFile+".crt"),
			"--key-file=" + s.pki(serverFile+".key"),
			"--peer-client-cert-auth",
			"--peer-trusted-ca-file=" + s.pki(caFile+".crt"),
			"--peer-cert-file=" + s.pki(serverFile+".crt"),
			"--peer-key-file=" + s.pki(serverFile+".key"),
			"--auto-compaction-mode=periodic",
			"--auto-compaction-retention=5m",
			"--log-level=warn",
		},
	}
}

// Credentials are what the hub needs to administer the server, in the
// keys of a BackingStore's admin credentials Secret.
func (s *Server) Credentials() (etcdstore.AdminCredentials, error) {
	var c etcdstore.AdminCredentials
	var err error
	read := func(name string) []byte {
		b, e := os.ReadFile(s.pki(name))
		err = errors.Join(err, e)
		return b
	}
	c.ServerCA = read(caFile + ".crt")
	c.Cert, c.Key = read(rootFile+".crt"), read(rootFile+".key")
	c.ClientCACert, c.ClientCAKey = read(caFile+".crt"), read(caFile+".key")
	return c, err
}

// EnableAuth makes the server at endpoint ready for vfleet: a root user
// (certificate-only, no password) with the root role, and auth on. Done
// already, it does nothing.
func EnableAuth(ctx context.Context, endpoint string, creds etcdstore.AdminCredentials) error {
	cli, err := creds.Client(endpoint)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	st, err := cli.AuthStatus(ctx)
	if err != nil {
		return fmt.Errorf("etcd at %s: %w", endpoint, err)
	}
	if st.Enabled {
		return nil
	}
	if _, err := cli.UserAddWithOptions(ctx, RootUser, "", &clientv3.UserAddOptions{NoPassword: true}); err != nil && !errors.Is(rpctypes.Error(err), rpctypes.ErrUserAlreadyExist) {
		return fmt.Errorf("add the root user: %w", err)
	}
	if _, err := cli.UserGrantRole(ctx, RootUser, "root"); err != nil {
		return fmt.Errorf("grant root the root role: %w", err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		return fmt.Errorf("enable auth: %w", err)
	}
	return nil
}

// Health asks the server at endpoint once whether it serves.
func Health(ctx context.Context, endpoint string, creds etcdstore.AdminCredentials) error {
	cli, err := creds.Client(endpoint)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = cli.Get(ctx, "health")
	return err
}

// WaitReady polls the server at endpoint until it answers, proc exits or
// ctx ends.
func WaitReady(ctx context.Context, endpoint string, creds etcdstore.AdminCredentials, proc *procgroup.Process) error {
	for {
		err := Health(ctx, endpoint, creds)
		if err == nil {
			return nil
		}
		if exited, exitErr := proc.Exited(); exited {
			return fmt.Errorf("etcd exited: %v\n%s", exitErr, proc.LogTail(10))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcd at %s: %w (last error: %v)", endpoint, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
