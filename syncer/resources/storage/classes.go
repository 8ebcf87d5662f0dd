package storage

import (
	"context"
	"maps"
	"reflect"

	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/vfleet/vfleet/syncer"
)

// defaultClassAnnotation marks the default StorageClass, which the
// vcluster's claims that name none get, as the host's do.
const defaultClassAnnotation = "storageclass.kubernetes.io/is-default-class"

// Classes shows the host's StorageClasses in the vcluster.
type Classes struct{ s *syncer.Context }

var _ syncer.Controller = (*Classes)(nil)

// NewClasses returns the StorageClass controller.
func NewClasses() syncer.Controller { return &Classes{} }

func (c *Classes) SetupWithSyncer(mgr ctrl.Manager, host cluster.Cluster, s *syncer.Context) error {
	c.s = s
	byName := &handler.EnqueueRequestForObject{}
	return ctrl.NewControllerManagedBy(mgr).
		Named("sync-storageclasses").
		WatchesRawSource(source.Kind(host.GetCache(), client.Object(&storagev1.StorageClass{}), byName)).
		WatchesRawSource(source.Kind(mgr.GetCache(), client.Object(&storagev1.StorageClass{}), byName)).
		Complete(c)
}

func (c *Classes) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	host := &storagev1.StorageClass{}
	var want client.Object
	switch err := c.s.Host.Get(ctx, req.NamespacedName, host); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return reconcile.Result{}, err
	default:
		want = VirtualClass(host)
	}
	after, err := mirror(ctx, c.s, req.NamespacedName, &storagev1.StorageClass{}, want, sameClass, func(v, w client.Object) {
		v.SetLabels(w.GetLabels())
		v.SetAnnotations(w.GetAnnotations())
		v.(*storagev1.StorageClass).AllowVolumeExpansion = w.(*storagev1.StorageClass).AllowVolumeExpansion
		v.(*storagev1.StorageClass).MountOptions = w.(*storagev1.StorageClass).MountOptions
		v.(*storagev1.StorageClass).AllowedTopologies = w.(*storagev1.StorageClass).AllowedTopologies
	}, func(v, w client.Object) bool {
		x, y := v.(*storagev1.StorageClass), w.(*storagev1.StorageClass)
		return x.Provisioner != y.Provisioner || !reflect.DeepEqual(x.ReclaimPolicy, y.ReclaimPolicy) ||
			!reflect.DeepEqual(x.VolumeBindingMode, y.VolumeBindingMode) || len(x.Parameters) > 0
	})
	if err == nil && after == nil && want != nil {
		// Removed to be made again (its immutable fields changed, or the
		// tenant deleted it).
		return reconcile.Result{RequeueAfter: syncer.Retry}, nil
	}
	return reconcile.Result{}, err
}

// VirtualClass is the vcluster's copy of a host StorageClass: all but its
// parameters, which are the host's business.
func VirtualClass(host *storagev1.StorageClass) *storagev1.StorageClass {
	v := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: host.Name, Labels: syncer.SyncedFromHost(host.Labels)},
		Provisioner:          host.Provisioner,
		ReclaimPolicy:        host.ReclaimPolicy,
		VolumeBindingMode:    host.VolumeBindingMode,
		AllowVolumeExpansion: host.AllowVolumeExpansion,
		MountOptions:         host.MountOptions,
		AllowedTopologies:    host.AllowedTopologies,
	}
	if d, ok := host.Annotations[defaultClassAnnotation]; ok {
		v.Annotations = map[string]string{defaultClassAnnotation: d}
	}
	return v
}

// sameClass compares what VirtualClass sets that can change in place.
func sameClass(virtual, want client.Object) bool {
	v, w := virtual.(*storagev1.StorageClass), want.(*storagev1.StorageClass)
	return maps.Equal(v.Labels, w.Labels) && maps.Equal(v.Annotations, w.Annotations) &&
		reflect.DeepEqual(v.AllowVolumeExpansion, w.AllowVolumeExpansion) && reflect.DeepEqual(v.MountOptions, w.MountOptions) &&
		reflect.DeepEqual(v.AllowedTopologies, w.AllowedTopologies)
}
