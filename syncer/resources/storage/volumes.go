package storage

import (
	"context"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/vfleet/vfleet/syncer"
)

// Volumes shows in the vcluster the host's PersistentVolumes bound to the
// vcluster's claims, bound there to the virtual claims.
type Volumes struct{ s *syncer.Context }

var _ syncer.Controller = (*Volumes)(nil)

// NewVolumes returns the PersistentVolume controller.
func NewVolumes() syncer.Controller { return &Volumes{} }

func (c *Volumes) SetupWithSyncer(mgr ctrl.Manager, host cluster.Cluster, s *syncer.Context) error {
	c.s = s
	byName := &handler.EnqueueRequestForObject{}
	// A claim bound, or gone, decides whether its volume is shown.
	byClaim := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		if name := obj.(*corev1.PersistentVolumeClaim).Spec.VolumeName; name != "" {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
		}
		return nil
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("sync-persistentvolumes").
		WatchesRawSource(source.Kind(host.GetCache(), client.Object(&corev1.PersistentVolume{}), byName)).
		WatchesRawSource(source.Kind(mgr.GetCache(), client.Object(&corev1.PersistentVolume{}), byName)).
		WatchesRawSource(source.Kind(host.GetCache(), client.Object(&corev1.PersistentVolumeClaim{}), byClaim)).
		WatchesRawSource(source.Kind(mgr.GetCache(), client.Object(&corev1.PersistentVolumeClaim{}), byClaim)).
		Complete(c)
}

func (c *Volumes) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	s := c.s
	claim, host, err := c.virtualClaim(ctx, req.NamespacedName)
	if err != nil {
		return reconcile.Result{}, err
	}
	var want client.Object
	if claim != nil {
		want = VirtualVolume(host, claim)
	}
	after, err := mirror(ctx, s, req.NamespacedName, &corev1.PersistentVolume{}, want, sameVolume, func(v, w client.Object) {
		x, y := v.(*corev1.PersistentVolume), w.(*corev1.PersistentVolume)
		x.Labels, x.Spec = y.Labels, y.Spec
	}, nil)
	if err != nil || after == nil {
		if err == nil && want != nil {
			return reconcile.Result{RequeueAfter: syncer.Retry}, nil
		}
		return reconcile.Result{}, err
	}
	pv := after.(*corev1.PersistentVolume)
	if pv.Status.Phase != host.Status.Phase {
		pv.Status = corev1.PersistentVolumeStatus{Phase: host.Status.Phase, LastPhaseTransitionTime: host.Status.LastPhaseTransitionTime}
		if err := s.Virtual.Status().Update(ctx, pv); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, nil
}

// virtualClaim is the virtual claim the host volume key is bound to,
// through the syncer's host claim, with the host volume; nil when it is
// not bound to one of the vcluster's.
func (c *Volumes) virtualClaim(ctx context.Context, key client.ObjectKey) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume, error) {
	s := c.s
	host := &corev1.PersistentVolume{}
	if err := s.Host.Get(ctx, key, host); err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	ref := host.Spec.ClaimRef
	if ref == nil || ref.Namespace != s.HostNamespace {
		return nil, nil, nil
	}
	hostClaim := &corev1.PersistentVolumeClaim{}
	if err := s.Host.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, hostClaim); err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	vkey, ok := syncer.VirtualKey(hostClaim)
	if !s.Owns(hostClaim) || hostClaim.UID != ref.UID || !ok {
		return nil, nil, nil
	}
	claim := &corev1.PersistentVolumeClaim{}
	if err := s.Virtual.Get(ctx, vkey, claim); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	return claim, host, nil
}

// VirtualVolume is the vcluster's copy of a host volume bound to claim:
// what the tenant may know of it, bound to the claim, with a source that
// names the host volume and nothing of how the host reaches it.
func VirtualVolume(host *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: host.Name, Labels: syncer.SyncedFromHost(host.Labels)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      host.Spec.Capacity,
			AccessModes:                   host.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: host.Spec.PersistentVolumeReclaimPolicy,
			StorageClassName:              host.Spec.StorageClassName,
			VolumeMode:                    host.Spec.VolumeMode,
			MountOptions:                  host.Spec.MountOptions,
			NodeAffinity:                  host.Spec.NodeAffinity,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: claim.Namespace, Name: claim.Name, UID: types.UID(claim.UID),
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: HostDriver, VolumeHandle: host.Name}},
		},
	}
}

// sameVolume compares what VirtualVolume sets.
func sameVolume(virtual, want client.Object) bool {
	v, w := virtual.(*corev1.PersistentVolume), want.(*corev1.PersistentVolume)
	ref := v.Spec.ClaimRef
	if ref != nil {
		// The API server fills in what the reference does not say.
		ref = &corev1.ObjectReference{Kind: ref.Kind, APIVersion: ref.APIVersion, Namespace: ref.Namespace, Name: ref.Name, UID: ref.UID}
	}
	spec := v.Spec
	spec.ClaimRef = ref
	return maps.Equal(v.Labels, w.Labels) && equality.Semantic.DeepEqual(spec, w.Spec)
}
