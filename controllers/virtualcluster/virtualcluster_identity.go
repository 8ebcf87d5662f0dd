package virtualcluster

import (
	"bytes"
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/identity"
)

// A vcluster's identity (package identity) is the hub's: it is made once,
// kept in the hub's namespace, where no tenant and no agent reads, and
// copied into the namespace of the host that runs the current epoch only.
// Every epoch on every host starts from the same one, so that what was
// handed out before a failover or a migration is trusted after it.

// IdentitySecretName names the hub's copy of vc's identity, in the hub's
// namespace: by UID, as a vcluster deleted and made again under its name
// is another cluster.
func IdentitySecretName(vc *fleetv1.VirtualCluster) string { return "identity-" + string(vc.UID) }

// HostIdentitySecretName names the copy of vc's identity in the namespace
// of the host that runs it.
func HostIdentitySecretName(vc *fleetv1.VirtualCluster) string {
	return ControlPlaneName(vc) + "-identity"
}

// identityLabels mark every copy of vc's identity.
func identityLabels(vc *fleetv1.VirtualCluster) map[string]string {
	return map[string]string{
		fleetv1.LabelManagedBy: fleetv1.ManagedByValue, fleetv1.LabelVirtualClusterUID: string(vc.UID),
		fleetv1.LabelVirtualCluster: vc.Name, fleetv1.LabelVirtualClusterNamespace: vc.Namespace,
	}
}

// ensureIdentity returns vc's identity, making it on the first call. Its
// admin certificate is issued again in the last quarter of its life. An
// identity that is not whole is never replaced behind anyone's back: that
// would cut off every client of the vcluster.
func (r *Reconciler) ensureIdentity(ctx context.Context, vc *fleetv1.VirtualCluster) (map[string][]byte, error) {
	key := client.ObjectKey{Namespace: r.IdentityNamespace, Name: IdentitySecretName(vc)}
	secret := &corev1.Secret{}
	err := r.Client.Get(ctx, key, secret)
	// A rotation asked before the identity was made is done by making it.
	asked := vc.Annotations[fleetv1.AnnotationRotateIdentity]
	if apierrors.IsNotFound(err) {
		data, err := newIdentityData(vc)
		if err != nil {
			return nil, err
		}
		secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: identityLabels(vc),
			Annotations: map[string]string{annotationRotatedFor: asked}}, Type: corev1.SecretTypeOpaque, Data: data}
		if err := r.Client.Create(ctx, secret); err != nil {
			// AlreadyExists: made by an earlier reconcile, not yet in the
			// cache; never made twice.
			return nil, fmt.Errorf("keep the vcluster's identity in Secret %s: %w", key, err)
		}
		ctrl.LoggerFrom(ctx).Info("Made the vcluster's identity", "secret", klog.KObj(secret))
		return data, nil
	}
	if err != nil {
		return nil, err
	}
	// Removing the annotation asks for nothing.
	if asked != "" && asked != secret.Annotations[annotationRotatedFor] {
		return r.rotateIdentity(ctx, vc, secret, asked)
	}
	id, err := identity.Parse(secret.Data)
	if err != nil {
		return nil, fmt.Errorf("the vcluster's identity in Secret %s is broken, and is not replaced, as every client of the vcluster trusts it (`vfleet certs rotate %s` replaces it): %w", key, vc.Name, err)
	}
	if !id.AdminDue(r.Clock.Now()) {
		return secret.Data, nil
	}
	if err := id.IssueAdmin(); err != nil {
		return nil, err
	}
	data, err := id.Data()
	if err != nil {
		return nil, err
	}
	before := secret.DeepCopy()
	secret.Data = data
	if err := r.Client.Patch(ctx, secret, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return nil, err
	}
	ctrl.LoggerFrom(ctx).Info("Issued the vcluster's admin certificate again", "secret", klog.KObj(secret))
	return data, nil
}

// annotationRotatedFor, on the hub's copy of an identity, is the request
// of rotation (AnnotationRotateIdentity) it was made for.
const annotationRotatedFor = "fleet.vfleet.dev/rotated-for"

// newIdentityData makes a new identity for vc, as a Secret's data.
func newIdentityData(vc *fleetv1.VirtualCluster) (map[string][]byte, error) {
	id, err := identity.New(vc.Name)
	if err != nil {
		return nil, err
	}
	return id.Data()
}

// rotateIdentity replaces vc's identity in secret with a new one, for the
// request asked: the host's copy follows, and its control plane starts
// again with it. A broken identity may be replaced this way too.
func (r *Reconciler) rotateIdentity(ctx context.Context, vc *fleetv1.VirtualCluster, secret *corev1.Secret, asked string) (map[string][]byte, error) {
	data, err := newIdentityData(vc)
	if err != nil {
		return nil, err
	}
	before := secret.DeepCopy()
	secret.Data = data
	metav1.SetMetaDataAnnotation(&secret.ObjectMeta, annotationRotatedFor, asked)
	// Over the Secret read: two rotations never race.
	if err := r.Client.Patch(ctx, secret, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return nil, err
	}
	ctrl.LoggerFrom(ctx).Info("Rotated the vcluster's identity", "secret", klog.KObj(secret), "request", asked)
	r.eventf(vc, corev1.EventTypeNormal, fleetv1.ReasonIdentityRotated, "RotateIdentity",
		"new CAs, service-account key and admin credentials (request %q): every kubeconfig and token issued before no longer works", asked)
	return data, nil
}

// deliverIdentity puts vc's identity where the agent of its host reads it.
func (r *Reconciler) deliverIdentity(ctx context.Context, vc *fleetv1.VirtualCluster, data map[string][]byte) error {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: HostIdentitySecretName(vc)}}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(secret), secret)
	if apierrors.IsNotFound(err) {
		secret.Labels = identityLabels(vc)
		secret.Labels[fleetv1.LabelHost] = vc.Status.Host
		secret.Type, secret.Data = corev1.SecretTypeOpaque, data
		if err := r.Client.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		return nil
	}
	if err != nil {
		return err
	}
	if maps.EqualFunc(secret.Data, data, bytes.Equal) {
		return nil
	}
	before := secret.DeepCopy()
	secret.Data = data
	return r.Client.Patch(ctx, secret, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}

// withdrawIdentity removes the copy of vc's identity from host: it no
// longer runs the vcluster, so its agent no longer reads it.
func (r *Reconciler) withdrawIdentity(ctx context.Context, vc *fleetv1.VirtualCluster, host string) error {
	secret := &corev1.Secret{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(host), Name: HostIdentitySecretName(vc)}, secret)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		err = r.Client.Delete(ctx, secret, client.Preconditions{UID: &secret.UID})
	}
	return client.IgnoreNotFound(err)
}

// dropIdentity removes vc's identity and every copy of it: the vcluster
// is gone, and no one should trust anything it handed out.
func (r *Reconciler) dropIdentity(ctx context.Context, vc *fleetv1.VirtualCluster) error {
	if r.IdentityNamespace == "" {
		return nil
	}
	for _, p := range append([]fleetv1.PlacementRecord{{Host: vc.Status.Host}}, vc.Status.PlacementHistory...) {
		if p.Host == "" {
			continue
		}
		if err := r.withdrawIdentity(ctx, vc, p.Host); err != nil {
			return err
		}
	}
	err := r.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.IdentityNamespace, Name: IdentitySecretName(vc)}})
	return client.IgnoreNotFound(err)
}
