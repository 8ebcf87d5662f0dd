package gateway

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"
)

// maxHello bounds what the gateway reads before it knows where a connection
// goes: a ClientHello is a few hundred bytes, at most a few kilobytes with
// post-quantum key shares; anything longer is not a TLS client worth
// holding a buffer for.
const maxHello = 16 << 10

// errPeeked stops the handshake once the ClientHello has been read.
var errPeeked = errors.New("client hello read")

// readHello reads the TLS ClientHello that opens conn and returns the
// server name it asks for and every byte read, to be replayed to the
// backend. The handshake is not answered: crypto/tls parses the hello
// (with every check it makes of one) and is stopped before it writes.
func readHello(conn net.Conn, timeout time.Duration) (serverName string, hello []byte, err error) {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", nil, err
	}
	defer func() { _ = conn.SetReadDeadline(time.Time{}) }()
	var read bytes.Buffer
	peek := &peekConn{Conn: conn, r: io.TeeReader(io.LimitReader(conn, maxHello), &read)}
	var info *tls.ClientHelloInfo
	err = tls.Server(peek, &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			info = h
			return nil, errPeeked
		},
	}).Handshake()
	if info == nil {
		if err == nil {
			err = errors.New("no TLS client hello")
		}
		return "", nil, err
	}
	return info.ServerName, read.Bytes(), nil
}

// peekConn reads through r and writes nothing: the gateway never speaks
// TLS itself, so whatever crypto/tls would answer (an alert) is dropped.
type peekConn struct {
	net.Conn
	r io.Reader
}

func (c *peekConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *peekConn) Write(p []byte) (int, error) { return len(p), nil }

// TLS alerts the gateway answers with when it will not route a connection
// (RFC 8446, section 6): the client has sent only its hello, so a
// plaintext alert is what a TLS server would send, and what clients
// report ("remote error: tls: unrecognized name").
const (
	alertInternalError    = 80
	alertUnrecognizedName = 112
)

// writeAlert sends a fatal TLS alert on conn.
func writeAlert(conn net.Conn, description byte) {
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	// Record type alert (21), version TLS 1.2 as records carry it, length
	// 2, level fatal (2), description.
	_, _ = conn.Write([]byte{21, 3, 3, 0, 2, 2, description})
}
