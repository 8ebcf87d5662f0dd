package federation

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/vfleet/vfleet/federation/ledger"
)

// Client calls a peer's API: operators' commands, and followers passing
// calls on to their leader. Its certificate must be of the federation's CA.
type Client struct {
	http *http.Client
}

// NewClient returns a client that presents the certificate in cfg and
// trusts cfg's RootCAs.
func NewClient(cfg *tls.Config) *Client {
	cfg = cfg.Clone()
	cfg.NextProtos = []string{protoAPI}
	cfg.MinVersion = tls.VersionTLS13
	return &Client{http: &http.Client{Timeout: opTimeout + 5*time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: false}}}
}

// Status returns the status of the peer at addr.
func (c *Client) Status(ctx context.Context, addr string) (Status, error) {
	var st Status
	return st, c.call(ctx, addr, "/v1/status", nil, &st, false)
}

// Ledger returns the ledger as the peer at addr has applied it.
func (c *Client) Ledger(ctx context.Context, addr string) (*ledger.State, error) {
	var raw json.RawMessage
	if err := c.call(ctx, addr, "/v1/ledger", nil, &raw, false); err != nil {
		return nil, err
	}
	return ledger.Decode(bytes.NewReader(raw))
}

// Join asks the group of the peer at addr to add hub id, at address.
func (c *Client) Join(ctx context.Context, addr, id, address string) error {
	return c.call(ctx, addr, "/v1/join", joinRequest{ID: id, Address: address}, nil, false)
}

// Remove asks the group of the peer at addr to remove hub id.
func (c *Client) Remove(ctx context.Context, addr, id string) error {
	return c.call(ctx, addr, "/v1/remove", removeRequest{ID: id}, nil, false)
}

// Apply proposes cmd to the group of the peer at addr and returns the
// epoch it left.
func (c *Client) Apply(ctx context.Context, addr string, cmd ledger.Command) (int64, error) {
	var r applyResponse
	err := c.call(ctx, addr, "/v1/apply", cmd, &r, false)
	return r.Epoch, err
}

// call sends body (a GET when nil) to path at addr and decodes the answer
// into out; an error answer comes back as the error it names.
func (c *Client) call(ctx context.Context, addr, path string, body, out any, forwarded bool) error {
	method, reader := http.MethodGet, io.Reader(nil)
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		method, reader = http.MethodPost, bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://"+addr+path, reader)
	if err != nil {
		return err
	}
	if forwarded {
		req.Header.Set(forwardedHeader, "1")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("federation peer at %s: %w", addr, explainTLS(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e apiError
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			return fmt.Errorf("federation peer at %s: %s", addr, resp.Status)
		}
		// The ledger's refusals come back as 409 (those with a reason)
		// or 422, and match ledger.ErrRefused, as they do in the leader.
		refused := resp.StatusCode == http.StatusUnprocessableEntity ||
			resp.StatusCode == http.StatusConflict && e.Reason != "ExistingState"
		known, ok := reasons[e.Reason]
		if !ok && !refused {
			return errors.New(e.Error)
		}
		return &remoteError{msg: e.Error, is: known, refused: refused}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return nil
	}
	return json.Unmarshal(data, out)
}

// remoteError is an error a peer answered with, which errors.Is matches
// to the error its reason names.
type remoteError struct {
	msg     string
	is      error
	refused bool
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Is(target error) bool {
	return target != nil && target == e.is || e.refused && target == ledger.ErrRefused
}
