package federation

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// handshakeTimeout bounds a peer's TLS handshake, so that a connection
// that never speaks holds nothing.
const handshakeTimeout = 10 * time.Second

// The protocols one peer's port serves, told apart by TLS ALPN: raft's
// own, and the federation's HTTPS API (join, remove, status, apply).
const (
	protoRaft = "vfleet-raft"
	protoAPI  = "http/1.1"
)

// tlsStream is raft's stream layer over mutual TLS: every connection, in
// or out, presents a certificate of the federation's CA, and a peer's
// serving certificate must name the address it is dialed at. The same
// port serves the federation's API: a connection that negotiated it goes
// to api instead, so that the leader's raft address is where its API is.
type tlsStream struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
	// refused reports a connection refused at the handshake: raft itself
	// never sees it.
	refused func(remote net.Addr, err error)

	conns chan net.Conn
	api   *chanListener
	done  chan struct{}
	once  sync.Once
}

// chanListener is a net.Listener of the connections the stream hands it.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  <-chan struct{}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close does nothing: the stream closes the port.
func (l *chanListener) Close() error   { return nil }
func (l *chanListener) Addr() net.Addr { return l.addr }

var _ raft.StreamLayer = (*tlsStream)(nil)

func newTLSStream(ln net.Listener, advertise net.Addr, server, client *tls.Config, refused func(net.Addr, error)) *tlsStream {
	server = server.Clone()
	server.NextProtos = []string{protoRaft, protoAPI}
	client = client.Clone()
	client.NextProtos = []string{protoRaft}
	done := make(chan struct{})
	s := &tlsStream{ln: ln, advertise: advertise, server: server, client: client, refused: refused,
		conns: make(chan net.Conn), done: done, api: &chanListener{addr: advertise, conns: make(chan net.Conn), done: done}}
	go s.acceptLoop()
	return s
}

// acceptLoop hands raft only connections whose handshake passed; each
// handshake runs apart, so that a slow one holds up no other.
func (s *tlsStream) acceptLoop() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			_ = s.Close() // raft's Accept returns net.ErrClosed from now on
			return
		}
		go func() {
			tc := tls.Server(c, s.server)
			_ = tc.SetDeadline(time.Now().Add(handshakeTimeout))
			if err := tc.Handshake(); err != nil {
				s.refused(c.RemoteAddr(), explainTLS(err))
				_ = c.Close() // refused already: nothing more to tell
				return
			}
			_ = tc.SetDeadline(time.Time{})
			to := s.conns
			if tc.ConnectionState().NegotiatedProtocol != protoRaft {
				to = s.api.conns
			}
			select {
			case to <- tc:
			case <-s.done:
				_ = tc.Close() // the peer is stopping
			}
		}()
	}
}

func (s *tlsStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

func (s *tlsStream) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.ln.Close()
	})
	return err
}

func (s *tlsStream) Addr() net.Addr { return s.advertise }

// Dial connects to the peer at address and checks its certificate before
// raft writes a byte.
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(string(address))
	if err != nil {
		return nil, fmt.Errorf("federation peer address %q: %w", address, err)
	}
	cfg := s.client.Clone()
	cfg.ServerName = host
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(address), cfg)
	if err != nil {
		return nil, fmt.Errorf("federation peer at %s: %w", address, explainTLS(err))
	}
	return c, nil
}

// explainTLS says in the federation's terms why a handshake failed, where
// Go's error names only the mechanism.
func explainTLS(err error) error {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("its certificate is not signed by the federation's CA: %w", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("its certificate does not name the address it was dialed at (give the peer a certificate for its advertised address): %w", err)
	case errors.As(err, &invalid):
		return fmt.Errorf("its certificate is not valid for a federation peer (expired, or not for both client and server use): %w", err)
	case strings.Contains(err.Error(), "didn't provide a certificate"):
		// A client sends only a certificate of a CA the server names: one
		// of another CA is not sent at all. crypto/tls has no type for it.
		return fmt.Errorf("it presented no certificate signed by the federation's CA: %w", err)
	}
	return err
}

type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }
