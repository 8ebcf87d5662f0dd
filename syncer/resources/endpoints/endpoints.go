// Package endpoints syncs the Endpoints of the vcluster's Services that
// have no selector: their addresses are the tenant's to give, and the
// host cannot compute them. Services with a selector get theirs from the
// host, which selects the synced pods.
package endpoints

import (
	"context"
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/vfleet/vfleet/syncer"
)

// Resource syncs Endpoints.
type Resource struct{}

var (
	_ syncer.Resource = (*Resource)(nil)
	_ syncer.Wanted   = (*Resource)(nil)
	_ syncer.Watcher  = (*Resource)(nil)
)

// Watches virtual Services: a selector added or removed decides whether
// their Endpoints are synced.
func (*Resource) Watches(mgr ctrl.Manager, _ *syncer.Context) []source.Source {
	same := func(_ context.Context, obj client.Object) []client.ObjectKey {
		return []client.ObjectKey{client.ObjectKeyFromObject(obj)}
	}
	return []source.Source{source.Kind(mgr.GetCache(), client.Object(&corev1.Service{}), syncer.EnqueueVirtual(same))}
}

// New returns the Endpoints resource.
func New() syncer.Resource { return &Resource{} }

func (*Resource) Kind() string { return "Endpoints" }

//nolint:staticcheck // Endpoints are what selector-less Services are given by hand.
func (*Resource) NewObject() client.Object { return &corev1.Endpoints{} }

// Wanted: the Endpoints of a Service without a selector.
func (*Resource) Wanted(ctx context.Context, s *syncer.Context, obj client.Object) (bool, error) {
	if syncer.IsAPIService(obj) {
		return false, nil
	}
	svc := &corev1.Service{}
	err := s.Virtual.Get(ctx, client.ObjectKeyFromObject(obj), svc)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil && len(svc.Spec.Selector) == 0, err
}

//nolint:staticcheck // see NewObject
func (*Resource) ToHost(ctx context.Context, s *syncer.Context, obj client.Object) (client.Object, error) {
	v := obj.(*corev1.Endpoints)
	var addrs []string
	for _, sub := range v.Subsets {
		for _, a := range append(slices.Clone(sub.Addresses), sub.NotReadyAddresses...) {
			addrs = append(addrs, a.IP)
		}
	}
	if err := s.CheckAddresses(ctx, addrs); err != nil {
		return nil, err
	}
	h := &corev1.Endpoints{Subsets: hostSubsets(v.Subsets)}
	h.Labels = syncer.HostLabels(v.Labels)
	return h, nil
}

// hostSubsets drops the references to virtual objects: on the host they
// would name nothing.
//
//nolint:staticcheck // see NewObject
func hostSubsets(in []corev1.EndpointSubset) []corev1.EndpointSubset {
	out := make([]corev1.EndpointSubset, len(in))
	for i, s := range in {
		out[i] = *s.DeepCopy()
		for _, addrs := range [][]corev1.EndpointAddress{out[i].Addresses, out[i].NotReadyAddresses} {
			for j := range addrs {
				addrs[j].TargetRef, addrs[j].NodeName = nil, nil
			}
		}
	}
	return out
}

//nolint:staticcheck // see NewObject
func (*Resource) UpdateHost(desired, existing client.Object) bool {
	d, e := desired.(*corev1.Endpoints), existing.(*corev1.Endpoints)
	if reflect.DeepEqual(d.Subsets, e.Subsets) {
		return false
	}
	e.Subsets = d.Subsets
	return true
}

func (*Resource) ToVirtual(context.Context, *syncer.Context, client.Object, client.Object) error {
	return nil
}
