// Package storage shows the tenant the host's storage as the host has it:
// its StorageClasses, which the vcluster's claims name and the host
// provisions from, and the PersistentVolumes bound to the vcluster's
// claims, bound there to the virtual claims. Both are the host's: a change
// the tenant makes to them is undone, and one the tenant deletes comes
// back. What the host keeps to itself stays there: a class's parameters
// (which may name its Secrets) and a volume's source, shown as a CSI
// volume of driver HostDriver whose handle is the host volume's name.
package storage

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/syncer"
)

// HostDriver is the CSI driver a host volume is shown with in the vcluster:
// nothing there acts on it.
const HostDriver = "host.vfleet.dev"

// mirror makes the syncer's virtual copy of key agree with want (nil: no
// copy). existing is an empty object of the kind to read into; same and
// update compare and copy what the syncer owns; replace, when set, says
// that the copy cannot be updated to want (an immutable field differs) and
// is removed, to be made again. An object of that name the tenant made
// itself is left alone. It returns the virtual object after, nil when
// there is none.
func mirror(ctx context.Context, s *syncer.Context, key client.ObjectKey, existing, want client.Object,
	same func(virtual, want client.Object) bool, update func(virtual, want client.Object), replace func(virtual, want client.Object) bool) (client.Object, error) {
	err := s.Virtual.Get(ctx, key, existing)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	exists := err == nil
	if exists && existing.GetLabels()[syncer.LabelSyncedFrom] == "" {
		return nil, nil
	}
	switch {
	case want == nil && exists:
		return nil, remove(ctx, s, existing)
	case want == nil:
		return nil, nil
	case !exists:
		return want, s.Virtual.Create(ctx, want)
	case !existing.GetDeletionTimestamp().IsZero() || (replace != nil && replace(existing, want)):
		// Deleted by the tenant, or not to be changed in place: gone
		// first, then made again.
		return nil, remove(ctx, s, existing)
	case !same(existing, want):
		update(existing, want)
		return existing, s.Virtual.Update(ctx, existing)
	}
	return existing, nil
}

// remove deletes a virtual copy and the finalizers the vcluster's API
// added to it (volume protection), whose controllers the vcluster does
// not run: nothing else would ever let it go.
func remove(ctx context.Context, s *syncer.Context, obj client.Object) error {
	if len(obj.GetFinalizers()) > 0 {
		obj.SetFinalizers(nil)
		if err := s.Virtual.Update(ctx, obj); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return client.IgnoreNotFound(s.Virtual.Delete(ctx, obj))
}
