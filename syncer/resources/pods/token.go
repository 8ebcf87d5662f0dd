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

// serviceAccount is the pod's account in the vcluster.
func serviceAccount(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName == "" {
		return "default"
	}
	return pod.Spec.ServiceAccountName
}

// tokenSecretName is the host Secret that carries the pod's token: one per
// pod, as its token is bound to the pod.
func tokenSecretName(s *syncer.Context, pod *corev1.Pod) string {
	return s.HostName(pod.Name, pod.Namespace) + "-token"
}

// ensureToken keeps, in a Secret in the host namespace, a token of the
// pod's service account issued by the vcluster's API and bound to the pod,
// with the vcluster's CA and the pod's namespace: what the projected
// volume it replaces would hold. The vcluster's API stops accepting the
// token once the pod is gone, as it does a kubelet's. The token is renewed
// when a fifth of its life is left.
//
// The Secret is made once the host pod exists, owned by it from the
// start, so the host's garbage collector removes it with the pod whoever
// deletes the pod, and a pod the host refused, or one deleted before its
// host copy was made, leaves no Secret behind. The kubelet waits for the
// Secret to mount it, which it finds made by then: the pod is still being
// scheduled.
func ensureToken(ctx context.Context, s *syncer.Context, host, pod *corev1.Pod) error {
	name := tokenSecretName(s, pod)
	mounted := false
	for _, v := range host.Spec.Volumes {
		mounted = mounted || v.Secret != nil && v.Secret.SecretName == name
	}
	if !mounted || host.UID == "" {
		return nil
	}
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: s.HostNamespace, Name: name}
	err := s.Host.Get(ctx, key, secret)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	exists := err == nil
	owner := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: host.Name, UID: host.UID}
	if exists && secret.Annotations[syncer.AnnotationVirtualUID] == string(pod.UID) && len(secret.OwnerReferences) == 1 && secret.OwnerReferences[0] == owner {
		if expiry, err := time.Parse(time.RFC3339, secret.Annotations[annotationTokenExpiry]); err == nil && time.Until(expiry) > tokenLifetime-tokenRefresh {
			return nil
		}
	}
	account := &corev1.ServiceAccount{}
	if err := s.Virtual.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: serviceAccount(pod)}, account); err != nil {
		return err
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(int64(tokenLifetime.Seconds())),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
	}}
	if err := s.Virtual.SubResource("token").Create(ctx, account, req); err != nil {
		return err
	}
	secret.Name, secret.Namespace = key.Name, key.Namespace
	s.Mark(secret, pod)
	// It is the pod's, not a copy of a virtual Secret: without a virtual
	// name, the Secrets controller does not look for one in the vcluster
	// on each of its writes.
	delete(secret.Annotations, syncer.AnnotationVirtualName)
	secret.OwnerReferences = []metav1.OwnerReference{owner}
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
