package syncer

import (
	"context"
	"fmt"
	"reflect"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Resource is one kind copied from the virtual cluster to the host. The
// virtual object is the truth for its spec, the host object for its status.
type Resource interface {
	// Kind names the resource in logs and events, for example "Pod".
	Kind() string
	// NewObject returns an empty object of the kind; both sides use it.
	NewObject() client.Object
	// ToHost builds the host object for a virtual one: name, namespace
	// and ownership marks are set by the controller. A *Refusal says the
	// isolation policy forbids it.
	ToHost(ctx context.Context, s *Context, virtual client.Object) (client.Object, error)
	// UpdateHost changes existing (the host object) to agree with desired
	// (ToHost's result) and reports whether it changed anything.
	UpdateHost(desired, existing client.Object) bool
	// ToVirtual copies what the host knows of the object back into the
	// virtual cluster, writing it there if it changed.
	ToVirtual(ctx context.Context, s *Context, host, virtual client.Object) error
}

// Wanted is implemented by resources that copy only some objects, such as
// the ConfigMaps that pods use.
type Wanted interface {
	Wanted(ctx context.Context, s *Context, virtual client.Object) (bool, error)
}

// Finisher is implemented by resources whose virtual object waits for its
// host object to be gone before it may go: a pod bound to a node, which no
// kubelet of the vcluster will ever finish deleting.
type Finisher interface {
	Finish(ctx context.Context, s *Context, virtual client.Object) error
}

// Watcher is implemented by resources that need more than their own kind
// on both sides to know when to look again.
type Watcher interface {
	// Watches returns sources that enqueue virtual keys of the resource.
	Watches(mgr ctrl.Manager, s *Context) []source.Source
}

// Requeuer is implemented by resources that must look again after a while
// even if nothing changes: a pod's token, before it expires.
type Requeuer interface {
	RequeueAfter(virtual client.Object) time.Duration
}

// Fallback is implemented by resources whose host object asks for
// something the host may have given away: a Service asks for its virtual
// ClusterIP, which another vcluster's Service on the host may hold. On a
// refusal, Fallback returns the object to create instead, or nil.
type Fallback interface {
	Fallback(desired client.Object, refused error) client.Object
}

// SubresourceUpdater is implemented by resources whose host objects take
// some changes only through a subresource: a pod's requests and limits,
// through resize, and its ephemeral containers.
type SubresourceUpdater interface {
	// ForCreate is what of desired the host takes at create; the rest
	// comes through the subresources after.
	ForCreate(desired client.Object) client.Object
	// UpdateHostSubresource changes existing (the host object) to agree
	// with desired in what one subresource takes, and names it; "" when
	// nothing is left to change. Called again after each update, it moves
	// on to the next subresource.
	UpdateHostSubresource(desired, existing client.Object) string
}

// NameIdentity is implemented by resources whose virtual object the syncer
// itself may recreate under the same name (a Service, to take the host's
// ClusterIP): a host object of another virtual UID is then theirs, not
// stale.
type NameIdentity interface {
	IdentifiedByName()
}

// EnqueueVirtual maps an object to the virtual keys f returns, for
// Watchers.
func EnqueueVirtual(f func(ctx context.Context, obj client.Object) []client.ObjectKey) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcileRequest {
		keys := f(ctx, obj)
		out := make([]reconcileRequest, len(keys))
		for i, k := range keys {
			out[i] = reconcileRequest{NamespacedName: k}
		}
		return out
	})
}

// Refusal is ToHost's error for an object the vcluster's isolation policy
// forbids: it stays in the vcluster, never reaches the host, and gets an
// Event saying why.
type Refusal struct {
	Reason  string
	Message string
}

func (r *Refusal) Error() string { return fmt.Sprintf("%s: %s", r.Reason, r.Message) }

// UpdateSpec makes existing's spec desired's and reports whether it
// changed: UpdateHost for a kind whose whole spec is the virtual object's.
func UpdateSpec[S any](desired, existing *S) bool {
	if reflect.DeepEqual(*desired, *existing) {
		return false
	}
	*existing = *desired
	return true
}

// NoStatus is embedded by resources whose host object brings nothing back
// to the virtual one.
type NoStatus struct{}

// ToVirtual does nothing.
func (NoStatus) ToVirtual(context.Context, *Context, client.Object, client.Object) error { return nil }
