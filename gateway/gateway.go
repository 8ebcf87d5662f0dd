package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// Options tune a Gateway.
type Options struct {
	// Hold is how long a new connection waits for its vcluster to be
	// reachable (a move, a start) before it is refused.
	Hold time.Duration
	// HelloTimeout bounds the wait for a client's TLS hello.
	HelloTimeout time.Duration
	// DialTimeout bounds one attempt to reach a control plane.
	DialTimeout time.Duration
	// Retry is the pause between attempts at an address that did not
	// answer, while the route stays the same.
	Retry time.Duration
	// Activity, if set, hears of every vcluster used through the gateway
	// (sleep after inactivity, and wake on a request).
	Activity Activity
	// ActivityEvery is how often a vcluster with open connections (a
	// watch, say) is said to be used.
	ActivityEvery time.Duration
}

// DefaultOptions hold a connection for as long as a failover with the
// default failover.afterSeconds takes, with margin.
func DefaultOptions() Options {
	return Options{Hold: 60 * time.Second, HelloTimeout: 10 * time.Second, DialTimeout: 3 * time.Second, Retry: 500 * time.Millisecond,
		ActivityEvery: 10 * time.Second}
}

// Gateway routes TLS connections to vclusters' control planes by their
// server name.
type Gateway struct {
	opts    Options
	log     logr.Logger
	metrics *Metrics
	routes  *Table

	mu    sync.Mutex
	conns map[string]map[*proxied]struct{}
}

// proxied is one connection routed to a control plane.
type proxied struct {
	route          Route
	client, server net.Conn
}

func (p *proxied) close() {
	_ = p.client.Close()
	_ = p.server.Close()
}

// New returns a gateway with an empty route table; the caller fills it
// (Watch) and serves (Serve).
func New(opts Options, log logr.Logger, reg prometheus.Registerer) *Gateway {
	g := &Gateway{opts: opts, log: log, conns: map[string]map[*proxied]struct{}{}}
	g.routes = NewTable(g.cut)
	g.metrics = NewMetrics(reg, g.routes.Len)
	return g
}

// Routes is the gateway's route table.
func (g *Gateway) Routes() *Table { return g.routes }

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection it routed.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer g.closeAll()
	if g.opts.Activity != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.reportOpen(ctx)
		}()
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.handle(ctx, conn)
		}()
	}
}

// handle routes one connection, or refuses it with a TLS alert.
func (g *Gateway) handle(ctx context.Context, conn net.Conn) {
	start := time.Now()
	name, hello, err := readHello(conn, g.opts.HelloTimeout)
	if err != nil {
		g.refuse(conn, resultBadHello, alertInternalError, "", "reading the TLS client hello: "+err.Error())
		return
	}
	server, route, result := g.dial(ctx, name)
	switch result {
	case resultUnknown:
		g.refuse(conn, result, alertUnrecognizedName, name, "no vcluster has this server name")
		return
	case resultHoldExpired:
		g.refuse(conn, result, alertInternalError, name, "the vcluster could not be reached within the hold time")
		return
	case resultClosed:
		_ = conn.Close()
		return
	}
	g.metrics.routed(time.Since(start))
	g.used(route, false)
	p := &proxied{route: route, client: conn, server: server}
	if !g.track(p) {
		// Its route changed while it was being dialled.
		p.close()
		return
	}
	defer g.untrack(p)
	if _, err := server.Write(hello); err != nil {
		p.close()
		return
	}
	g.pipe(p)
}

// dial reaches the control plane for name, holding while its vcluster has
// no reachable address or its address does not answer, up to the hold
// time. A route that goes (the vcluster deleted) ends the wait at once.
func (g *Gateway) dial(ctx context.Context, name string) (net.Conn, Route, string) {
	deadline := time.NewTimer(g.opts.Hold)
	defer deadline.Stop()
	held := false
	for {
		route, ok, changed := g.routes.Lookup(name)
		if !ok {
			return nil, Route{}, resultUnknown
		}
		var retry *time.Timer
		if route.Address != "" {
			d := net.Dialer{Timeout: g.opts.DialTimeout}
			server, err := d.DialContext(ctx, "tcp", route.Address)
			if err == nil {
				if held {
					g.log.V(1).Info("Routed a held connection", "serverName", name, "epoch", route.Epoch)
				}
				return server, route, resultRouted
			}
			g.log.V(1).Info("Control plane did not answer; holding", "serverName", name, "address", route.Address, "epoch", route.Epoch, "err", err.Error())
			retry = time.NewTimer(g.opts.Retry)
		}
		if route.Address == "" {
			// Nothing runs it: asleep, or moving. A sleeping one wakes.
			g.used(route, true)
		}
		if !held {
			held = true
			g.metrics.held.Inc()
			defer g.metrics.held.Dec()
		}
		if !g.wait(ctx, changed, retry, deadline.C) {
			if ctx.Err() != nil {
				return nil, route, resultClosed
			}
			return nil, route, resultHoldExpired
		}
	}
}

// wait waits for the table to change, retry (if any) to fire, or the hold
// to end; it reports false for the end of the hold or of ctx.
func (g *Gateway) wait(ctx context.Context, changed <-chan struct{}, retry *time.Timer, deadline <-chan time.Time) bool {
	var again <-chan time.Time
	if retry != nil {
		defer retry.Stop()
		again = retry.C
	}
	select {
	case <-changed:
	case <-again:
	case <-deadline:
		return false
	case <-ctx.Done():
		return false
	}
	return true
}

func (g *Gateway) used(r Route, waking bool) {
	if g.opts.Activity != nil {
		g.opts.Activity.Used(r, waking)
	}
}

// reportOpen says, every ActivityEvery, that each vcluster with an open
// connection is used: a long watch is use too.
func (g *Gateway) reportOpen(ctx context.Context) {
	t := time.NewTicker(g.opts.ActivityEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.mu.Lock()
		var open []Route
		for _, set := range g.conns {
			for p := range set {
				open = append(open, p.route)
				break
			}
		}
		g.mu.Unlock()
		for _, r := range open {
			g.used(r, false)
		}
	}
}

// pipe copies both ways until either side ends, then closes both.
func (g *Gateway) pipe(p *proxied) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close where the transport allows it, so a side that is
		// done sending still gets the rest of the answer.
		if tc, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(p.server, p.client)
	go cp(p.client, p.server)
	<-done
	<-done
	p.close()
}

func (g *Gateway) refuse(conn net.Conn, result string, alert byte, name, why string) {
	g.metrics.refused(result)
	g.log.V(1).Info("Refused a connection", "serverName", name, "remote", conn.RemoteAddr().String(), "reason", why)
	writeAlert(conn, alert)
	_ = conn.Close()
}

// track records p under its route, unless the route changed meanwhile.
func (g *Gateway) track(p *proxied) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now, ok, _ := g.routes.Lookup(p.route.ServerName); !ok || !now.same(p.route) {
		return false
	}
	set := g.conns[p.route.ServerName]
	if set == nil {
		set = map[*proxied]struct{}{}
		g.conns[p.route.ServerName] = set
	}
	set[p] = struct{}{}
	g.metrics.open.Inc()
	return true
}

func (g *Gateway) untrack(p *proxied) {
	g.mu.Lock()
	defer g.mu.Unlock()
	set := g.conns[p.route.ServerName]
	if _, ok := set[p]; !ok {
		return
	}
	delete(set, p)
	if len(set) == 0 {
		delete(g.conns, p.route.ServerName)
	}
	g.metrics.open.Dec()
}

// cut closes the connections made on old, a route that changed or went:
// none may stay on an epoch the hub has moved away from.
func (g *Gateway) cut(old Route) {
	g.mu.Lock()
	var cut []*proxied
	for p := range g.conns[old.ServerName] {
		if p.route.same(old) {
			cut = append(cut, p)
		}
	}
	g.mu.Unlock()
	for _, p := range cut {
		p.close()
	}
	if len(cut) > 0 {
		g.log.Info("Cut connections to a route that changed", "serverName", old.ServerName, "epoch", old.Epoch, "connections", len(cut))
	}
}

func (g *Gateway) closeAll() {
	g.mu.Lock()
	var all []*proxied
	for _, set := range g.conns {
		for p := range set {
			all = append(all, p)
		}
	}
	g.mu.Unlock()
	for _, p := range all {
		p.close()
	}
}
