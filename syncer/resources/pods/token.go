package pods

import (
	"context"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
)

// A pod's token lasts tokenLifetime and is renewed after tokenRefresh, as a
// kubelet renews projected tokens at 80% of their life.
const (
	tokenLifetime = time.Hour
	tokenRefresh  = 48 * time.Minute
	// annotationTokenExpiry on the token Secret says when its token
	// expires. The token itself is in the Secret's data, never in an
	// annotation.
	annotationTokenExpiry = "fleet.vfleet.dev/token-expiry"
)

// tokenSecretName is the host Secret that carries the pod's token.
func tokenSecretName(s *syncer.Context, pod *corev1.Pod) string {
	return s.HostName(pod.Name, pod.Namespace) + "-token"
}

// ensureToken keeps, in a Secret in the host namespace, a token of the
// pod's service account issued by the vcluster's API and bound to the pod,
// with the vcluster's CA and the pod's namespace: what the projected
// volume it replaces would hold.
func ensureToken(ctx context.Context, s *syncer.Context, pod *corev1.Pod) error {
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: s.HostNamespace, Name: tokenSecretName(s, pod)}
	err := s.Host.Get(ctx, key, secret)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	exists := err == nil
	if exists && secret.Annotations[syncer.AnnotationVirtualUID] == string(pod.UID) {
		if expiry, err := time.Parse(time.RFC3339, secret.Annotations[annotationTokenExpiry]); err == nil && time.Until(expiry) > tokenLifetime-tokenRefresh {
			return nil
		}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(int64(tokenLifetime.Seconds())),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: sa}}
	if err := s.Virtual.SubResource("token").Create(ctx, account, req); err != nil {
		return err
	}
	secret.Name, secret.Namespace = key.Name, key.Namespace
	s.Mark(secret, pod)
	secret.Labels[fleetv1.LabelManagedBy] = fleetv1.ManagedByValue
	secret.Annotations[annotationTokenExpiry] = req.Status.ExpirationTimestamp.UTC().Format(time.RFC3339)
	secret.Type = corev1.SecretTypeOpaque
	secret.Data = map[string][]byte{
		corev1.ServiceAccountTokenKey:     []byte(req.Status.Token),
		corev1.ServiceAccountRootCAKey:    s.VirtualCA,
		corev1.ServiceAccountNamespaceKey: []byte(pod.Namespace),
	}
	if exists {
		return s.Host.Update(ctx, secret)
	}
	return s.Host.Create(ctx, secret)
}

// ensureTokenOwner makes the host pod own its token Secret, so that the
// host's garbage collector removes the Secret with the pod.
func ensureTokenOwner(ctx context.Context, s *syncer.Context, host *corev1.Pod) error {
	vkey, ok := syncer.VirtualKey(host)
	if !ok {
		return nil
	}
	secret := &corev1.Secret{}
	err := s.Host.Get(ctx, client.ObjectKey{Namespace: host.Namespace, Name: s.HostName(vkey.Name, vkey.Namespace) + "-token"}, secret)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, ref := range secret.OwnerReferences {
		if ref.UID == host.UID {
			return nil
		}
	}
	secret.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: host.Name, UID: host.UID}}
	return s.Host.Update(ctx, secret)
}
