// Package etcdstore administers an etcd server for vfleet: a key prefix and
// a role per vcluster, and a user per placement epoch.
//
// Such a server authenticates clients by certificate only (the user is the
// certificate's common name) and has auth enabled, so that taking an
// epoch's user away fences it: etcd checks every request, and again when
// it applies a write, against the users and roles of that moment.
package etcdstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/vfleet/vfleet/internal/pki"
)

// A vcluster's state on an etcd server is the keys under one prefix,
// "/<space>/", which one role (named <space>) may read and write. Each
// placement epoch is a user of its own (<space>-e<N>), holding that role
// and authenticated by a client certificate with that common name. Fencing
// an epoch is deleting its user: etcd refuses its next request, and any
// write it had in flight when it applies it, since the auth revision it
// was checked at is then stale.

// Prefix is the key prefix of a vcluster's space, the apiserver's
// --etcd-prefix; its keys are below Prefix(space)+"/".
func Prefix(space string) string { return "/" + space }

// EpochUser is the user of one epoch of a space.
func EpochUser(space string, epoch int64) string { return fmt.Sprintf("%s-e%d", space, epoch) }

// ErrAuthDisabled is a server whose auth is off: it would not fence.
var ErrAuthDisabled = errors.New("etcd auth is disabled, so vfleet could not fence a lost control plane: add a root user and enable auth (etcdctl user add root --no-password; etcdctl user grant-role root root; etcdctl auth enable)")

// AdminCredentials are the hub's to administer a server: a client
// certificate of a user with the root role, the CA that verifies the
// server, and a CA the server trusts for client certificates, which signs
// the epochs' certificates.
type AdminCredentials struct {
	Cert, Key                 []byte
	ServerCA                  []byte
	ClientCACert, ClientCAKey []byte
}

// Admin administers vclusters' spaces on an etcd server.
type Admin struct {
	// Endpoint is the server's client URL (https://host:port); several
	// members' are separated by commas.
	Endpoint string
	Creds    AdminCredentials
}

// EpochCredentials are the client certificate of an epoch's user and the
// CA that verifies the server: what a control plane needs.
type EpochCredentials struct {
	User      string
	Cert, Key []byte
	ServerCA  []byte
}

// Client connects to the server at endpoint with the admin certificate.
func (c AdminCredentials) Client(endpoint string) (*clientv3.Client, error) {
	tlsCfg, err := TLSConfig(c.ServerCA, c.Cert, c.Key)
	if err != nil {
		return nil, err
	}
	return clientv3.New(clientv3.Config{
		Endpoints:   Endpoints(endpoint),
		TLS:         tlsCfg,
		DialTimeout: 5 * time.Second,
		// Quiet: errors come back to the caller, who says them once.
		Logger: zap.NewNop(),
	})
}

// Endpoints splits a comma-separated endpoint list.
func Endpoints(endpoint string) []string {
	var out []string
	for _, e := range strings.Split(endpoint, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// opTimeout bounds an operation whose context has no deadline: the
// client waits for a server that does not answer, and a caller (a
// reconcile) must not wait with it for ever.
const opTimeout = 30 * time.Second

// do runs f with a client of the server, under ctx bounded by opTimeout.
func (a Admin) do(ctx context.Context, f func(context.Context, *clientv3.Client) error) error {
	cli, err := a.Creds.Client(a.Endpoint)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opTimeout)
		defer cancel()
	}
	return f(ctx, cli)
}

// Ping checks that the server answers, has auth on, and takes the admin
// certificate as a root user.
func (a Admin) Ping(ctx context.Context) error {
	return a.do(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		// Reading the auth status, then listing roles, are for root only.
		st, err := cli.AuthStatus(ctx)
		if err == nil {
			if !st.Enabled {
				return ErrAuthDisabled
			}
			_, err = cli.RoleList(ctx)
		}
		switch {
		case is(err, rpctypes.ErrPermissionDenied), is(err, rpctypes.ErrUserNotFound):
			return &AuthError{User: a.user(), Err: err}
		case errors.Is(err, context.DeadlineExceeded):
			// The client's own error names neither the endpoint nor why.
			return &UnreachableError{Endpoint: a.Endpoint, Err: a.why(err)}
		}
		return err
	})
}

// why dials the first endpoint once to tell what kept the client from it
// (nothing listening, a certificate the server or the hub rejects), or
// returns err if the dial works.
func (a Admin) why(err error) error {
	tlsCfg, cfgErr := TLSConfig(a.Creds.ServerCA, a.Creds.Cert, a.Creds.Key)
	eps := Endpoints(a.Endpoint)
	if cfgErr != nil || len(eps) == 0 {
		return err
	}
	u, parseErr := url.Parse(eps[0])
	if parseErr != nil {
		return err
	}
	conn, dialErr := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", u.Host, tlsCfg)
	if dialErr != nil {
		return dialErr
	}
	// The server may refuse the client certificate only once it reads.
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, readErr := conn.Read(make([]byte, 1)); readErr != nil && !errors.Is(readErr, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("%w (TLS: %v)", err, readErr)
	}
	_ = conn.Close()
	return err
}

// user is the common name of the admin certificate.
func (a Admin) user() string {
	b, _ := pem.Decode(a.Creds.Cert)
	if b == nil {
		return ""
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return ""
	}
	return c.Subject.CommonName
}

// AuthError is a server that does not take the admin certificate as root.
type AuthError struct {
	User string
	Err  error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("etcd does not let the admin certificate's user %q administer it (it needs the root role): %v", e.User, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// UnreachableError is a server that did not answer.
type UnreachableError struct {
	Endpoint string
	Err      error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("etcd at %s did not answer: %v", e.Endpoint, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// EnsureSpace creates the role that may read and write the space's keys,
// if it is missing.
func (a Admin) EnsureSpace(ctx context.Context, space string) error {
	return a.do(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		if _, err := cli.RoleAdd(ctx, space); err != nil && !is(err, rpctypes.ErrRoleAlreadyExist) {
			return fmt.Errorf("add role %s: %w", space, err)
		}
		key := Prefix(space) + "/"
		if _, err := cli.RoleGrantPermission(ctx, space, key, clientv3.GetPrefixRangeEnd(key), clientv3.PermissionType(clientv3.PermReadWrite)); err != nil {
			return fmt.Errorf("grant role %s its prefix: %w", space, err)
		}
		return nil
	})
}

// EnsureEpochUser creates the user of an epoch, with the space's role, and
// issues it a client certificate.
func (a Admin) EnsureEpochUser(ctx context.Context, space string, epoch int64) (EpochCredentials, error) {
	user := EpochUser(space, epoch)
	ca, err := pki.ParseCA(a.Creds.ClientCACert, a.Creds.ClientCAKey)
	if err != nil {
		return EpochCredentials{}, fmt.Errorf("client CA: %w", err)
	}
	err = a.do(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		if _, err := cli.UserAddWithOptions(ctx, user, "", &clientv3.UserAddOptions{NoPassword: true}); err != nil && !is(err, rpctypes.ErrUserAlreadyExist) {
			return fmt.Errorf("add user %s: %w", user, err)
		}
		if _, err := cli.UserGrantRole(ctx, user, space); err != nil {
			return fmt.Errorf("grant user %s role %s: %w", user, space, err)
		}
		return nil
	})
	if err != nil {
		return EpochCredentials{}, err
	}
	return a.issue(ca, user)
}

// RenewEpochCert issues the user of an epoch a new client certificate, for
// one whose certificate is about to expire. It never adds the user: a
// fenced epoch stays fenced, and a certificate naming a user etcd no longer
// has opens nothing.
func (a Admin) RenewEpochCert(ctx context.Context, space string, epoch int64) (EpochCredentials, error) {
	user := EpochUser(space, epoch)
	ca, err := pki.ParseCA(a.Creds.ClientCACert, a.Creds.ClientCAKey)
	if err != nil {
		return EpochCredentials{}, fmt.Errorf("client CA: %w", err)
	}
	err = a.do(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		if _, err := cli.UserGet(ctx, user); is(err, rpctypes.ErrUserNotFound) {
			return fmt.Errorf("user %s is gone (its epoch was fenced): its certificate is not renewed", user)
		} else if err != nil {
			return fmt.Errorf("get user %s: %w", user, err)
		}
		return nil
	})
	if err != nil {
		return EpochCredentials{}, err
	}
	return a.issue(ca, user)
}

func (a Admin) issue(ca *pki.CA, user string) (EpochCredentials, error) {
	kp, err := ca.Issue(pki.Request{CommonName: user, Usage: pki.ClientAuth})
	if err != nil {
		return EpochCredentials{}, err
	}
	return EpochCredentials{User: user, Cert: kp.CertPEM, Key: kp.KeyPEM, ServerCA: a.Creds.ServerCA}, nil
}

// Fence deletes an epoch's user. Once it returns, etcd refuses every
// request of that epoch, and every write it had in flight.
func (a Admin) Fence(ctx context.Context, space string, epoch int64) error {
	return a.do(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		if _, err := cli.UserDelete(ctx, EpochUser(space, epoch)); err != nil && !is(err, rpctypes.ErrUserNotFound) {
			return fmt.Errorf("fence %s: %w", EpochUser(space, epoch), err)
		}
		return nil
	})
}

// DropSpace deletes a space's keys, its epochs' users and its role.
func (a Admin) DropSpace(ctx context.Context, space string) error {
	return a.do(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		// Users first: nothing of the space may write while it goes.
		users, err := cli.UserList(ctx)
		if err != nil {
			return err
		}
		for _, u := range users.Users {
			if strings.HasPrefix(u, space+"-e") {
				if _, err := cli.UserDelete(ctx, u); err != nil && !is(err, rpctypes.ErrUserNotFound) {
					return fmt.Errorf("delete user %s: %w", u, err)
				}
			}
		}
		if _, err := cli.Delete(ctx, Prefix(space)+"/", clientv3.WithPrefix()); err != nil {
			return fmt.Errorf("delete the keys of %s: %w", space, err)
		}
		if _, err := cli.RoleDelete(ctx, space); err != nil && !is(err, rpctypes.ErrRoleNotFound) {
			return fmt.Errorf("delete role %s: %w", space, err)
		}
		return nil
	})
}

// TLS is the client configuration of the epoch's user.
func (c EpochCredentials) TLS() (*tls.Config, error) { return TLSConfig(c.ServerCA, c.Cert, c.Key) }

// is compares an etcd client error with one of rpctypes' errors: the
// auth API returns gRPC statuses the KV API would have converted.
func is(err, target error) bool { return err != nil && errors.Is(rpctypes.Error(err), target) }

// TLSConfig is a client configuration trusting serverCA, presenting
// cert and key.
func TLSConfig(serverCA, cert, key []byte) (*tls.Config, error) {
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if len(serverCA) > 0 {
		pool, err := pki.Pool(serverCA)
		if err != nil {
			return nil, fmt.Errorf("server CA: %w", err)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
