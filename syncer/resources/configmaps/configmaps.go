// Package configmaps syncs the ConfigMaps pods use to the host.
package configmaps

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/syncer/podrefs"
	"github.com/vfleet/vfleet/syncer/resources/referenced"
)

// New returns the ConfigMap resource.
func New() syncer.Resource {
	return &referenced.Resource{
		Ref: podrefs.ConfigMap,
		New: func() client.Object { return &corev1.ConfigMap{} },
		All: func(s *syncer.Context) bool { return s.SyncAllConfigMaps },
		// Every namespace has one; pods get the vcluster's CA with their
		// token instead.
		Skip: func(v client.Object) bool { return v.GetName() == "kube-root-ca.crt" },
		Copy: func(from, to client.Object) {
			f, t := from.(*corev1.ConfigMap), to.(*corev1.ConfigMap)
			t.Data, t.BinaryData, t.Immutable = maps.Clone(f.Data), maps.Clone(f.BinaryData), f.Immutable
		},
		Equal: func(a, b client.Object) bool {
			x, y := a.(*corev1.ConfigMap), b.(*corev1.ConfigMap)
			return maps.Equal(x.Data, y.Data) && maps.EqualFunc(x.BinaryData, y.BinaryData, bytesEqual)
		},
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }
