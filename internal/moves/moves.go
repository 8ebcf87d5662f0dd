// Package moves asks the hub to move a vcluster (vfleet failover, migrate,
// drain) and follows the move: the request is a pair of annotations, the
// answer status.operation. It also measures what a tenant sees of a move:
// how long the vcluster's API did not answer.
package moves

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// Move is what to ask for.
type Move struct {
	Type fleetv1.OperationType
	// To is the host to move to; empty means any other that fits.
	To string
	// Reason goes into the placement history (Drain); empty means Type's.
	Reason string
}

// Request asks the hub for m and returns the request's id. It writes over
// vc as read (an optimistic lock), so that a request made meanwhile by
// someone else (a person, the hub for a wake) is never half overwritten:
// a conflict is the caller's to handle, reading vc again.
func Request(ctx context.Context, c client.Client, vc *fleetv1.VirtualCluster, m Move) (string, error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := time.Now().UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b)
	before := vc.DeepCopy()
	if vc.Annotations == nil {
		vc.Annotations = map[string]string{}
	}
	vc.Annotations[fleetv1.AnnotationOperation] = string(m.Type)
	vc.Annotations[fleetv1.AnnotationOperationID] = id
	set := func(key, value string) {
		if value == "" {
			delete(vc.Annotations, key)
		} else {
			vc.Annotations[key] = value
		}
	}
	set(fleetv1.AnnotationOperationTo, m.To)
	set(fleetv1.AnnotationOperationReason, m.Reason)
	if err := c.Patch(ctx, vc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		*vc = *before
		return "", err
	}
	return id, nil
}

// Wait follows the operation id until it succeeds or fails, telling
// progress each new message; a failed operation is an error with the hub's
// reason.
func Wait(ctx context.Context, c client.Reader, key client.ObjectKey, id string, progress func(string)) (*fleetv1.OperationStatus, error) {
	last := ""
	for {
		vc := &fleetv1.VirtualCluster{}
		if err := c.Get(ctx, key, vc); err != nil {
			return nil, err
		}
		op := vc.Status.Operation
		msg := "waiting for the hub to take the request up"
		if op != nil && op.ID == id {
			msg = string(op.Phase) + ": " + op.Message
			switch op.Phase {
			case fleetv1.OperationSucceeded:
				return op, nil
			case fleetv1.OperationFailed:
				return op, fmt.Errorf("%s of vcluster %s failed: %s", op.Type, key.Name, op.Message)
			}
		}
		if msg != last && progress != nil {
			progress(msg)
			last = msg
		}
		select {
		case <-ctx.Done():
			return op, fmt.Errorf("vcluster %s: %s still not done: %s", key.Name, id, msg)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Prober asks a vcluster's API for its default namespace every interval,
// as a client would, through the kubeconfig the hub issues, and measures
// the longest time it did not answer. Not /readyz: a control plane started
// over a store it made its default objects in serves before the
// apiserver's bootstrap checks pass (controlplane's waitReady), and a
// client is answered then.
type Prober struct {
	c        client.Reader
	secret   client.ObjectKey
	interval time.Duration

	mu       sync.Mutex
	lastOK   time.Time
	down     bool
	downFrom time.Time
	longest  time.Duration
}

// NewProber probes the vcluster vc.
func NewProber(c client.Reader, vc *fleetv1.VirtualCluster) *Prober {
	return &Prober{c: c, secret: client.ObjectKey{Namespace: vc.Namespace, Name: vc.Name + "-kubeconfig"}, interval: 100 * time.Millisecond}
}

// Run probes until ctx ends.
func (p *Prober) Run(ctx context.Context) {
	var (
		kc     []byte
		client *http.Client
		host   string
	)
	for ctx.Err() == nil {
		s := &corev1.Secret{}
		if err := p.c.Get(ctx, p.secret, s); err == nil && string(s.Data[fleetv1.KubeconfigKey]) != string(kc) {
			kc = s.Data[fleetv1.KubeconfigKey]
			if cfg, err := clientcmd.RESTConfigFromKubeConfig(kc); err == nil {
				cfg.Timeout = time.Second
				if hc, err := rest.HTTPClientFor(cfg); err == nil {
					client, host = hc, cfg.Host
				}
			}
		}
		ok := false
		if client != nil {
			if req, err := http.NewRequestWithContext(ctx, http.MethodGet, host+"/api/v1/namespaces/default", nil); err == nil {
				if resp, err := client.Do(req); err == nil {
					ok = resp.StatusCode == http.StatusOK
					resp.Body.Close()
				}
			}
		}
		p.observe(ok, time.Now())
		select {
		case <-ctx.Done():
		case <-time.After(p.interval):
		}
	}
}

func (p *Prober) observe(ok bool, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case ok && p.down:
		p.down = false
		if d := now.Sub(p.downFrom); d > p.longest {
			p.longest = d
		}
	case !ok && !p.down && !p.lastOK.IsZero():
		// Down since the last answer: the outage began in between.
		p.down, p.downFrom = true, p.lastOK
	}
	if ok {
		p.lastOK = now
	}
}

// AnsweredAfter is whether the API answered after t.
func (p *Prober) AnsweredAfter(t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastOK.After(t)
}

// Downtime is the longest time the API did not answer, counted from the
// last answer before to the first after; an outage still going on counts
// until now.
func (p *Prober) Downtime() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return max(p.longest, time.Since(p.downFrom))
	}
	return p.longest
}
