// Package referenced syncs a kind of object that pods use by name
// (ConfigMaps, Secrets): only those some pod uses, unless told to sync all.
package referenced

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/syncer/podrefs"
)

// Resource syncs the objects of one kind that pods use.
type Resource struct {
	Ref podrefs.Kind
	New func() client.Object
	// All says whether every object of the kind is synced.
	All func(s *syncer.Context) bool
	// Skip says whether an object is never synced on its own account.
	Skip func(virtual client.Object) bool
	// Copy copies what the host needs from one object into another.
	Copy func(from, to client.Object)
	// Equal compares what Copy copies.
	Equal func(a, b client.Object) bool
	// AlsoUsed, when set, says whether something other than a pod uses
	// an object (an Ingress, its TLS Secret); AlsoWatched are the sources
	// that tell when that changes.
	AlsoUsed    func(ctx context.Context, s *syncer.Context, virtual client.Object) (bool, error)
	AlsoWatched func(mgr ctrl.Manager, s *syncer.Context) []source.Source
}

var (
	_ syncer.Resource = (*Resource)(nil)
	_ syncer.Wanted   = (*Resource)(nil)
	_ syncer.Watcher  = (*Resource)(nil)
	_ syncer.Indexer  = (*Resource)(nil)
)

func (r *Resource) Kind() string             { return string(r.Ref) }
func (r *Resource) NewObject() client.Object { return r.New() }

func (r *Resource) ToHost(_ context.Context, _ *syncer.Context, virtual client.Object) (client.Object, error) {
	host := r.New()
	r.Copy(virtual, host)
	return host, nil
}

func (r *Resource) UpdateHost(desired, existing client.Object) bool {
	if r.Equal(desired, existing) {
		return false
	}
	r.Copy(desired, existing)
	return true
}

// ToVirtual: the host adds nothing to these.
func (r *Resource) ToVirtual(context.Context, *syncer.Context, client.Object, client.Object) error {
	return nil
}

func (r *Resource) Wanted(ctx context.Context, s *syncer.Context, virtual client.Object) (bool, error) {
	used, err := podrefs.Used(ctx, s.Virtual, r.Ref, virtual.GetNamespace(), virtual.GetName())
	if err != nil || used {
		return used, err
	}
	if r.AlsoUsed != nil {
		if used, err := r.AlsoUsed(ctx, s, virtual); err != nil || used {
			return used, err
		}
	}
	return r.All(s) && (r.Skip == nil || !r.Skip(virtual)), nil
}

// Watches virtual pods: a pod that starts or stops using an object decides
// whether it is synced.
func (r *Resource) Watches(mgr ctrl.Manager, s *syncer.Context) []source.Source {
	sources := []source.Source{source.Kind(mgr.GetCache(), client.Object(&corev1.Pod{}), syncer.EnqueueVirtual(podrefs.Users(r.Ref)))}
	if r.AlsoWatched != nil {
		sources = append(sources, r.AlsoWatched(mgr, s)...)
	}
	return sources
}

func (r *Resource) IndexFields(ctx context.Context, indexer client.FieldIndexer) error {
	return podrefs.Index(ctx, indexer, r.Ref)
}
