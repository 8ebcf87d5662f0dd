// Package secrets syncs the Secrets pods use, and those Ingresses serve TLS
// with, to the host.
package secrets

import (
	"context"
	"maps"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/source"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/syncer/podrefs"
	"github.com/vfleet/vfleet/syncer/resources/referenced"
)

// New returns the Secret resource.
func New() syncer.Resource {
	return &referenced.Resource{
		Ref: podrefs.Secret,
		New: func() client.Object { return &corev1.Secret{} },
		All: func(s *syncer.Context) bool { return s.SyncAllSecrets },
		// The vcluster's own service-account tokens mean nothing on the
		// host; pods get theirs another way.
		Skip: func(v client.Object) bool { return v.(*corev1.Secret).Type == corev1.SecretTypeServiceAccountToken },
		Copy: func(from, to client.Object) {
			f, t := from.(*corev1.Secret), to.(*corev1.Secret)
			t.Data, t.Immutable = maps.Clone(f.Data), f.Immutable
			if len(f.StringData) > 0 {
				t.StringData = maps.Clone(f.StringData)
			}
			t.Type = hostType(f.Type)
		},
		Equal: func(a, b client.Object) bool {
			x, y := a.(*corev1.Secret), b.(*corev1.Secret)
			return maps.EqualFunc(x.Data, y.Data, func(p, q []byte) bool { return string(p) == string(q) })
		},
		AlsoUsed:    usedForTLS,
		AlsoWatched: tlsOfIngresses,
	}
}

// usedForTLS says whether an Ingress of the Secret's namespace serves TLS
// with it: the host's ingress controller reads it there.
func usedForTLS(ctx context.Context, s *syncer.Context, secret client.Object) (bool, error) {
	var list networkingv1.IngressList
	if err := s.Virtual.List(ctx, &list, client.InNamespace(secret.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
		return false, err
	}
	for _, ing := range list.Items {
		if slices.Contains(tlsSecrets(&ing), secret.GetName()) {
			return true, nil
		}
	}
	return false, nil
}

// tlsOfIngresses looks again at an Ingress's TLS Secrets when it changes.
func tlsOfIngresses(mgr ctrl.Manager, _ *syncer.Context) []source.Source {
	return []source.Source{source.Kind(mgr.GetCache(), client.Object(&networkingv1.Ingress{}), syncer.EnqueueVirtual(func(_ context.Context, obj client.Object) []client.ObjectKey {
		var keys []client.ObjectKey
		for _, name := range tlsSecrets(obj.(*networkingv1.Ingress)) {
			keys = append(keys, client.ObjectKey{Namespace: obj.GetNamespace(), Name: name})
		}
		return keys
	}))}
}

func tlsSecrets(ing *networkingv1.Ingress) []string {
	var names []string
	for _, t := range ing.Spec.TLS {
		if t.SecretName != "" {
			names = append(names, t.SecretName)
		}
	}
	return names
}

// hostType: a service-account token Secret of the vcluster would be
// filled in by the host's token controller for a host account; on the host
// it is plain data.
func hostType(t corev1.SecretType) corev1.SecretType {
	if t == corev1.SecretTypeServiceAccountToken {
		return corev1.SecretTypeOpaque
	}
	return t
}
