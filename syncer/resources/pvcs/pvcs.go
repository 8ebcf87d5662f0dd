// Package pvcs syncs the vcluster's PersistentVolumeClaims to its host,
// whose storage provisions them, and brings their status back.
package pvcs

import (
	"context"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/syncer"
)

// Resource syncs PersistentVolumeClaims.
type Resource struct{}

var _ syncer.Resource = (*Resource)(nil)

// New returns the PersistentVolumeClaim resource.
func New() syncer.Resource { return &Resource{} }

func (*Resource) Kind() string             { return "PersistentVolumeClaim" }
func (*Resource) NewObject() client.Object { return &corev1.PersistentVolumeClaim{} }

// ToHost copies the claim; the volume it binds to, and any data source,
// are the host's business.
func (*Resource) ToHost(_ context.Context, _ *syncer.Context, obj client.Object) (client.Object, error) {
	v := obj.(*corev1.PersistentVolumeClaim)
	h := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes:      v.Spec.AccessModes,
		Resources:        v.Spec.Resources,
		StorageClassName: v.Spec.StorageClassName,
		VolumeMode:       v.Spec.VolumeMode,
	}}
	h.Labels = syncer.HostLabels(v.Labels)
	return h, nil
}

// UpdateHost carries a resize, the one change a bound claim takes.
func (*Resource) UpdateHost(desired, existing client.Object) bool {
	d, e := desired.(*corev1.PersistentVolumeClaim), existing.(*corev1.PersistentVolumeClaim)
	if reflect.DeepEqual(d.Spec.Resources.Requests, e.Spec.Resources.Requests) {
		return false
	}
	e.Spec.Resources.Requests = d.Spec.Resources.Requests
	return true
}

// ToVirtual binds the virtual claim to the volume the host bound its copy
// to (the vcluster shows that volume: package storage), and copies the
// claim's phase, capacity and conditions.
func (*Resource) ToVirtual(ctx context.Context, s *syncer.Context, hostObj, virtualObj client.Object) error {
	h, v := hostObj.(*corev1.PersistentVolumeClaim), virtualObj.(*corev1.PersistentVolumeClaim)
	if h.Spec.VolumeName != "" && v.Spec.VolumeName == "" {
		// Once, as the host's binder does: it cannot change after.
		bound := v.DeepCopy()
		bound.Spec.VolumeName = h.Spec.VolumeName
		if err := s.Virtual.Update(ctx, bound); err != nil {
			return err
		}
		v = bound
	}
	if reflect.DeepEqual(h.Status, v.Status) {
		return nil
	}
	latest := v.DeepCopy()
	latest.Status = *h.Status.DeepCopy()
	return s.Virtual.Status().Update(ctx, latest)
}
