// Package pgserver runs a private PostgreSQL server in a directory from the
// distribution's binaries (Debian's postgresql package). The lab's External
// backing store and the tests of control planes over PostgreSQL use it;
// stores/postgres administers it like any other.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vfleet/vfleet/internal/pki"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/stores/postgres"
)

// AdminUser is the superuser of a server this package starts.
const AdminUser = "vfleet"

// Server is a running PostgreSQL server.
type Server struct {
	dir      string
	port     int
	password string
	proc     *procgroup.Process
}

// BinDir finds the server's binaries: the newest /usr/lib/postgresql/*/bin,
// else the directory of initdb on PATH.
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
	}
	return "", errors.New("PostgreSQL is not installed: apt-get install postgresql (make test installs it)")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Cluster is an initialised PostgreSQL data directory, ready to run.
type Cluster struct {
	// Dir holds data/, the socket directory, the logs and the superuser's
	// password.
	Dir string
	// Password is the superuser's (AdminUser) password.
	Password string
	bin      string
	cred     *syscall.Credential
	// also are networks the server serves besides loopback: it listens at
	// each one's address and lets its clients in (over TLS).
	also []net.IPNet
}

// Init initialises a cluster in dir unless one is there. Running as root,
// the server will run as the postgres user, which must be able to reach
// dir. The server listens on loopback and on the address of each network
// in also, whose clients it lets in: a store other network namespaces
// reach. Networks count only when the cluster is first initialised.
func Init(dir string, also ...net.IPNet) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	// Parents others may enter, so that the postgres user can reach dir.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	cred, err := runAs(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin, cred: cred, also: also}
	data := filepath.Join(dir, "data")
	pwFile := filepath.Join(dir, "admin-password")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		c.Password = postgres.NewPassword()
		if err := os.WriteFile(pwFile, []byte(c.Password), 0o600); err != nil {
			return nil, err
		}
		if err := chown(pwFile, cred); err != nil {
			return nil, err
		}
		if err := run(filepath.Join(bin, "initdb"), cred, filepath.Join(dir, "initdb.log"),
			"-D", data, "-U", AdminUser, "--auth=scram-sha-256", "--pwfile="+pwFile, "--encoding=UTF8", "--locale=C"); err != nil {
			return nil, err
		}
	} else {
		pw, err := os.ReadFile(pwFile)
		if err != nil {
			return nil, err
		}
		c.Password = strings.TrimSpace(string(pw))
	}
	if err := c.ensureTLS(); err != nil {
		return nil, err
	}
	sockets := filepath.Join(dir, "run")
	if err := os.MkdirAll(sockets, 0o700); err != nil {
		return nil, err
	}
	if err := chown(sockets, cred); err != nil {
		return nil, err
	}
	return c, nil
}

// ensureTLS gives the server a certificate for 127.0.0.1 and localhost,
// signed by a CA of its own (ca.crt in the cluster's directory, for clients
// that verify), and lets clients in over TCP only with TLS: a store's
// credentials and every vcluster's state never cross the network in the
// clear.
func (c *Cluster) ensureTLS() error {
	data := filepath.Join(c.Dir, "data")
	if _, err := os.Stat(filepath.Join(data, "server.key")); err == nil {
		return nil
	}
	ca, err := pki.NewCA("vfleet-postgres-ca")
	if err != nil {
		return err
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, n := range c.also {
		ips = append(ips, n.IP)
	}
	kp, err := ca.Issue(pki.Request{CommonName: "postgres", DNSNames: []string{"localhost"}, IPs: ips, Usage: pki.ServerAuth})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "ca.crt"), ca.CertPEM(), 0o644); err != nil {
		return err
	}
	hba := "# Written by vfleet: over TCP, TLS only.\n" +
		"local all all scram-sha-256\n" +
		"hostssl all all 127.0.0.1/32 scram-sha-256\n" +
		"hostssl all all ::1/128 scram-sha-256\n"
	for _, n := range c.also {
		clients := net.IPNet{IP: n.IP.Mask(n.Mask), Mask: n.Mask}
		hba += "hostssl all all " + clients.String() + " scram-sha-256\n"
	}
	for name, content := range map[string][]byte{"server.crt": kp.CertPEM, "pg_hba.conf": []byte(hba), "server.key": kp.KeyPEM} {
		path := filepath.Join(data, name)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			return err
		}
		if err := chown(path, c.cred); err != nil {
			return err
		}
	}
	return nil
}

// CAFile is the CA certificate that verifies the server's.
func (c *Cluster) CAFile() string { return filepath.Join(c.Dir, "ca.crt") }

// Spec is how to run the cluster's server on 127.0.0.1:port (and its other
// networks' addresses), its log in logFile.
func (c *Cluster) Spec(name string, port int, logFile string) procgroup.Spec {
	listen := "127.0.0.1"
	for _, n := range c.also {
		listen += "," + n.IP.String()
	}
	return procgroup.Spec{
		Name: name, Path: filepath.Join(c.bin, "postgres"), Credential: c.cred, LogFile: logFile, StopSignal: syscall.SIGINT,
		Args: []string{"-D", filepath.Join(c.Dir, "data"), "-p", strconv.Itoa(port), "-k", filepath.Join(c.Dir, "run"),
			"-c", "listen_addresses=" + listen, "-c", "max_connections=400", "-c", "shared_buffers=32MB",
			"-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key"},
	}
}

// Ping connects to the server at hostport as the superuser.
func Ping(ctx context.Context, hostport, password string) error {
	conn, err := pgx.Connect(ctx, postgres.URL(hostport, "postgres", AdminUser, password, ""))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// Start initialises a cluster in dir unless one is there, and runs its
// server on 127.0.0.1:port until Stop.
func Start(ctx context.Context, dir string, port int) (*Server, error) {
	c, err := Init(dir)
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, port: port, password: c.Password}
	s.proc, err = procgroup.Start(c.Spec("postgres", port, filepath.Join(dir, "postgres.log")))
	if err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx); err != nil {
		_ = s.proc.Kill()
		return nil, fmt.Errorf("postgres on port %d: %w\n%s", port, err, s.proc.LogTail(10))
	}
	return s, nil
}

// runAs returns the credential to run the server with: none unless this
// process is root, which PostgreSQL refuses; then the postgres user, after
// giving it dir.
func runAs(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if err := chown(dir, cred); err != nil {
		return nil, err
	}
	if err := Reachable(dir); err != nil {
		return nil, err
	}
	return cred, nil
}

// Reachable reports why the server, which runs as the postgres user when
// this process is root, could not walk down to dir.
func Reachable(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	for d := filepath.Dir(dir); d != "/"; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if errors.Is(err, os.ErrNotExist) {
			continue // made later, with mode 0755 or as asked
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("PostgreSQL runs as user postgres, which cannot enter %s: use a directory whose parents others may enter (chmod o+x %s)", d, d)
		}
	}
	return nil
}

func chown(path string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	return os.Chown(path, int(cred.Uid), int(cred.Gid))
}

// run runs a command to completion, its output to log.
func run(path string, cred *syscall.Credential, log string, args ...string) error {
	p, err := procgroup.Start(procgroup.Spec{Name: filepath.Base(path), Path: path, Args: args, LogFile: log, Credential: cred})
	if err != nil {
		return err
	}
	<-p.Done()
	if _, err := p.Exited(); err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(path), err, p.LogTail(10))
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := Ping(ctx, s.Endpoint(), s.password)
		if err == nil {
			return nil
		}
		if exited, exitErr := s.proc.Exited(); exited {
			return fmt.Errorf("exited: %v", exitErr)
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Endpoint is host:port.
func (s *Server) Endpoint() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// CA is the PEM of the CA that signed the server's certificate, which
// clients verify it with.
func (s *Server) CA() ([]byte, error) { return os.ReadFile(filepath.Join(s.dir, "ca.crt")) }

// AdminPassword is the superuser's password.
func (s *Server) AdminPassword() string { return s.password }

// Pid is the server's process id.
func (s *Server) Pid() int { return s.proc.Pid() }

// Connect opens a connection to database as the superuser.
func (s *Server) Connect(ctx context.Context, database string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, postgres.URL(s.Endpoint(), database, AdminUser, s.password, ""))
}

// CreateDatabase creates a database owned by the superuser.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}

// Stop stops the server: a fast shutdown, then a kill after grace.
func (s *Server) Stop(ctx context.Context) error { return s.proc.Stop(ctx, 20*time.Second) }
