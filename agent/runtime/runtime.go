// Package runtime is how an agent runs the control planes its hub assigns
// it: as processes on the host machine, or as workloads of the host
// cluster. The agent's controller speaks to either through Runtime.
package runtime

import (
	"context"
	"time"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// Instance is one control plane as the agent asks a runtime to run it.
type Instance struct {
	// Name is unique on the host: the ControlPlane's name.
	Name string
	// Namespace is the vcluster's namespace on the host cluster.
	Namespace string
	// Generation of the ControlPlane spec; a runtime that gave up on a
	// failed control plane tries again only for a newer one.
	Generation int64
	Spec       fleetv1.ControlPlaneSpec
	// Backend is the store of an External control plane, with this
	// epoch's credentials: a kine endpoint (PostgreSQL) or an
	// EtcdBackend's string; empty for Embedded.
	Backend string
	// Identity is the vcluster's identity (package identity), as its
	// Secret's data; nil when the hub keeps none, and the control plane
	// makes its own. A new one (rotated) starts the control plane again.
	Identity map[string][]byte
	// Sync is what the control plane's syncer needs to reach the host.
	Sync Sync
	// Traceparent is the trace of the create or move this control plane
	// is starting for (internal/tracing), while it is; empty otherwise.
	Traceparent string
}

// Sync is the host side of a control plane's syncer.
type Sync struct {
	// HostServer and HostCA reach the host's API server; HostToken is the
	// syncer's token there, renewed by the agent. A runtime whose control
	// planes run in the host cluster uses their own account instead.
	HostServer string
	HostCA     []byte
	HostToken  string
	// ServiceCIDR is the host's Service range, which the vcluster uses too.
	ServiceCIDR string
}

// State is what a runtime observes of a control plane.
type State struct {
	Phase    fleetv1.ControlPlanePhase
	Endpoint string
	Restarts int32
	// Message says why a control plane is not running, in the apiserver's
	// own words when it failed.
	Message string
	// Kubeconfig is an admin kubeconfig for Endpoint, once Running.
	Kubeconfig []byte
	// RetryAfter is when the runtime tries a Failed control plane again,
	// if it does: Ensure should be called then.
	RetryAfter time.Duration
}

// Runtime runs control planes. Ensure and Remove are idempotent and
// level-triggered: called again with the same instance, they do nothing
// new.
type Runtime interface {
	// Ensure makes the control plane run as inst says, or sleep, and
	// returns what it observes now. It does not wait for readiness.
	Ensure(ctx context.Context, inst Instance) (State, error)
	// Remove stops the control plane and deletes everything the runtime
	// keeps of it. Removing what does not exist is not an error.
	Remove(ctx context.Context, inst Instance) error
	// Fence stops every control plane the runtime runs, quickly, and keeps
	// their data: the agent has lost the hub, which may bring them up
	// elsewhere. Ensure starts one again.
	Fence(ctx context.Context) error
	// Changed delivers the name of a control plane whose state changed on
	// its own (it became ready, crashed, gave up), so the agent reports it
	// without polling. A runtime that cannot tell returns nil, and the
	// agent looks again while a control plane starts.
	Changed() <-chan string
}
