package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/vfleet/vfleet/federation/ledger"
)

// opTimeout bounds what one API call asks of raft.
const opTimeout = 10 * time.Second

// forwardedHeader marks a call a follower passed on to its leader: the
// leader answers it, never passes it on again.
const forwardedHeader = "X-Vfleet-Forwarded"

// joinRequest asks the group to add a hub.
type joinRequest struct {
	ID      string `json:"id"`
	Address string `json:"address"`
}

// removeRequest asks the group to remove a hub.
type removeRequest struct {
	ID string `json:"id"`
}

// applyResponse is the epoch a command left.
type applyResponse struct {
	Epoch int64 `json:"epoch"`
}

// apiError is an API error: its message, and a reason a client maps back
// to the error it stands for.
type apiError struct {
	Error  string `json:"error"`
	Reason string `json:"reason,omitempty"`
}

// reasons are the errors that cross the wire by name.
var reasons = map[string]error{
	"NotLeader":     ErrNotLeader,
	"StaleEpoch":    ledger.ErrStaleEpoch,
	"NotFenced":     ledger.ErrNotFenced,
	"Elsewhere":     ledger.ErrElsewhere,
	"UnknownHost":   ledger.ErrUnknownHost,
	"ExistingState": ErrExistingState,
}

// apiHandler serves the federation's API to peers and operators, who
// hold certificates of the federation's CA (the TLS layer checked them).
// A follower passes what only the leader does on to it.
func (p *Peer) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		st, err := p.Status()
		reply(w, st, err)
	})
	mux.HandleFunc("GET /v1/ledger", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, p.Ledger(), nil)
	})
	mux.HandleFunc("POST /v1/join", func(w http.ResponseWriter, r *http.Request) {
		var req joinRequest
		if !decode(w, r, &req) || p.forward(w, r, req) {
			return
		}
		reply(w, struct{}{}, p.Join(req.ID, req.Address, opTimeout))
	})
	mux.HandleFunc("POST /v1/remove", func(w http.ResponseWriter, r *http.Request) {
		var req removeRequest
		if !decode(w, r, &req) || p.forward(w, r, req) {
			return
		}
		reply(w, struct{}{}, p.Remove(req.ID, opTimeout))
	})
	mux.HandleFunc("POST /v1/apply", func(w http.ResponseWriter, r *http.Request) {
		var c ledger.Command
		if !decode(w, r, &c) || p.forward(w, r, c) {
			return
		}
		epoch, err := p.Apply(c, opTimeout)
		reply(w, applyResponse{Epoch: epoch}, err)
	})
	return mux
}

// forward passes a call that only the leader answers on to it, once, and
// reports whether it did (and so answered w).
func (p *Peer) forward(w http.ResponseWriter, r *http.Request, body any) bool {
	if p.IsLeader() || r.Header.Get(forwardedHeader) != "" {
		return false
	}
	addr, id := p.raft.LeaderWithID()
	if id == "" {
		reply(w, nil, p.notLeader())
		return true
	}
	var out json.RawMessage
	err := p.client.call(r.Context(), string(addr), r.URL.Path, body, &out, true)
	if err != nil {
		reply(w, nil, err)
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out) // the caller went away if this fails
	return true
}

func decode(w http.ResponseWriter, r *http.Request, into any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(into); err != nil {
		reply(w, nil, fmt.Errorf("%w: the request does not decode: %v", errBadRequest, err))
		return false
	}
	return true
}

var errBadRequest = errors.New("bad request")

// reply writes v, or err with the status and reason it stands for.
func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err == nil {
		_ = json.NewEncoder(w).Encode(v) // the caller went away if this fails
		return
	}
	body := apiError{Error: err.Error()}
	status := http.StatusInternalServerError
	for name, e := range reasons {
		if errors.Is(err, e) {
			body.Reason = name
			status = http.StatusConflict
		}
	}
	switch {
	case errors.Is(err, ErrNotLeader):
		status = http.StatusServiceUnavailable
	case errors.Is(err, errBadRequest):
		status = http.StatusBadRequest
	case body.Reason == "":
		// The ledger's own refusals (a host it does not have, a key that
		// is no namespace/name) are the caller's to fix; a follower
		// passes on the leader's as they came.
		if errors.Is(err, ledger.ErrRefused) {
			status = http.StatusUnprocessableEntity
		}
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// serveAPI serves the API on the port's API connections until Close.
func (p *Peer) serveAPI() {
	p.api = &http.Server{Handler: p.apiHandler(), ReadHeaderTimeout: handshakeTimeout}
	go func() { _ = p.api.Serve(p.stream.api) }() // ends with ErrServerClosed at Close
}

func (p *Peer) stopAPI() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.api.Shutdown(ctx)
}
