// Package podrefs finds the objects a pod spec refers to by name
// (ConfigMaps, Secrets, PersistentVolumeClaims), to index pods by them and
// to rename them when the pod is copied to the host.
package podrefs

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Kind of a referenced object.
type Kind string

// Kinds a pod refers to.
const (
	ConfigMap Kind = "ConfigMap"
	Secret    Kind = "Secret"
	PVC       Kind = "PersistentVolumeClaim"
)

// Walk calls f with a pointer to every name in spec that refers to another
// object, so that f can read or rewrite it.
func Walk(spec *corev1.PodSpec, f func(kind Kind, name *string)) {
	for i := range spec.Volumes {
		v := &spec.Volumes[i].VolumeSource
		switch {
		case v.ConfigMap != nil:
			f(ConfigMap, &v.ConfigMap.Name)
		case v.Secret != nil:
			f(Secret, &v.Secret.SecretName)
		case v.PersistentVolumeClaim != nil:
			f(PVC, &v.PersistentVolumeClaim.ClaimName)
		case v.AzureFile != nil && v.AzureFile.SecretName != "":
			f(Secret, &v.AzureFile.SecretName)
		case volumeSecret(v) != nil:
			// A driver's credentials: the name is the vcluster's, and
			// must not name a host Secret.
			if ref := volumeSecret(v); ref.Name != "" {
				f(Secret, &ref.Name)
			}
		case v.Projected != nil && !ServiceAccountTokenVolume(v.Projected):
			for j := range v.Projected.Sources {
				src := &v.Projected.Sources[j]
				if src.ConfigMap != nil {
					f(ConfigMap, &src.ConfigMap.Name)
				}
				if src.Secret != nil {
					f(Secret, &src.Secret.Name)
				}
			}
		}
	}
	containers := func(cs []corev1.Container) {
		for i := range cs {
			walkEnv(cs[i].Env, cs[i].EnvFrom, f)
		}
	}
	containers(spec.InitContainers)
	containers(spec.Containers)
	for i := range spec.EphemeralContainers {
		c := &spec.EphemeralContainers[i].EphemeralContainerCommon
		walkEnv(c.Env, c.EnvFrom, f)
	}
	for i := range spec.ImagePullSecrets {
		f(Secret, &spec.ImagePullSecrets[i].Name)
	}
}

// volumeSecret is the Secret a volume's driver reads its credentials
// from, if its type has one and it is set.
func volumeSecret(v *corev1.VolumeSource) *corev1.LocalObjectReference {
	switch {
	case v.CSI != nil:
		return v.CSI.NodePublishSecretRef
	case v.FlexVolume != nil:
		return v.FlexVolume.SecretRef
	case v.ISCSI != nil:
		return v.ISCSI.SecretRef
	case v.CephFS != nil:
		return v.CephFS.SecretRef
	case v.RBD != nil:
		return v.RBD.SecretRef
	case v.ScaleIO != nil:
		return v.ScaleIO.SecretRef
	case v.StorageOS != nil:
		return v.StorageOS.SecretRef
	}
	return nil
}

// ServiceAccountTokenVolume reports whether a projected volume carries a
// service-account token. The syncer replaces such volumes with a token of
// the virtual cluster, so what else they project (kube-root-ca.crt) is not
// copied.
func ServiceAccountTokenVolume(p *corev1.ProjectedVolumeSource) bool {
	for _, src := range p.Sources {
		if src.ServiceAccountToken != nil {
			return true
		}
	}
	return false
}

func walkEnv(env []corev1.EnvVar, from []corev1.EnvFromSource, f func(Kind, *string)) {
	for i := range env {
		if vf := env[i].ValueFrom; vf != nil {
			if vf.ConfigMapKeyRef != nil {
				f(ConfigMap, &vf.ConfigMapKeyRef.Name)
			}
			if vf.SecretKeyRef != nil {
				f(Secret, &vf.SecretKeyRef.Name)
			}
		}
	}
	for i := range from {
		if from[i].ConfigMapRef != nil {
			f(ConfigMap, &from[i].ConfigMapRef.Name)
		}
		if from[i].SecretRef != nil {
			f(Secret, &from[i].SecretRef.Name)
		}
	}
}

// Field is the index of virtual pods by the objects of kind they use.
func Field(kind Kind) string { return "vfleet.pod.uses." + string(kind) }

// Names returns the names of kind the spec refers to, each once.
func Names(spec *corev1.PodSpec, kind Kind) []string {
	seen := map[string]bool{}
	var out []string
	Walk(spec, func(k Kind, name *string) {
		if k == kind && *name != "" && !seen[*name] {
			seen[*name] = true
			out = append(out, *name)
		}
	})
	return out
}

// Index registers the index of pods by what they use of kind.
func Index(ctx context.Context, indexer client.FieldIndexer, kind Kind) error {
	return indexer.IndexField(ctx, &corev1.Pod{}, Field(kind), func(obj client.Object) []string {
		return Names(&obj.(*corev1.Pod).Spec, kind)
	})
}

// Used reports whether a pod in namespace uses the object of kind named
// name.
func Used(ctx context.Context, c client.Reader, kind Kind, namespace, name string) (bool, error) {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(namespace), client.MatchingFields{Field(kind): name}, client.UnsafeDisableDeepCopy); err != nil {
		return false, err
	}
	return len(pods.Items) > 0, nil
}

// Users maps a virtual pod to the objects of kind it uses, for a watch.
func Users(kind Kind) func(ctx context.Context, obj client.Object) []client.ObjectKey {
	return func(_ context.Context, obj client.Object) []client.ObjectKey {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return nil
		}
		var keys []client.ObjectKey
		for _, n := range Names(&pod.Spec, kind) {
			keys = append(keys, client.ObjectKey{Namespace: pod.Namespace, Name: n})
		}
		return keys
	}
}
