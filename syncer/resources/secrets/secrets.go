// Package secrets syncs the Secrets pods use to the host.
package secrets

import (
	"maps"

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
	}
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
