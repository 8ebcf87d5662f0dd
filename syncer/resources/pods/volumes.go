package pods

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
)

// ReasonVolume is the Event reason of a pod kept off the host for a volume
// its class does not allow.
const ReasonVolume = "ForbiddenVolumeType"

// namespacedVolumeTypes stay within the vcluster's namespace on the host:
// what they name is translated to that namespace's objects, or is the
// pod's own. Every other type reaches beyond it (a host path, a network
// share, a driver with its own notion of identity), so the class must
// allow it by name.
var namespacedVolumeTypes = []string{"configMap", "secret", "emptyDir", "persistentVolumeClaim", "downwardAPI", "projected"}

// checkVolumes refuses a pod with a volume of a type its class does not
// allow, or a projected source that reads beyond the vcluster.
func checkVolumes(policy fleetv1.IsolationPolicy, pod *corev1.Pod) error {
	for _, v := range pod.Spec.Volumes {
		typ := volumeType(v.VolumeSource)
		if !slices.Contains(namespacedVolumeTypes, typ) && !slices.Contains(policy.AllowedVolumeTypes, typ) {
			return &syncer.Refusal{Reason: ReasonVolume, Message: fmt.Sprintf(
				"the pod stays off the host: volume %q is of type %s, which the vcluster's class does not allow (allowed: %s)",
				v.Name, typ, strings.Join(append(slices.Clone(namespacedVolumeTypes), policy.AllowedVolumeTypes...), ", "))}
		}
		if p := v.Projected; p != nil {
			for _, src := range p.Sources {
				if src.ClusterTrustBundle != nil || src.PodCertificate != nil {
					return &syncer.Refusal{Reason: ReasonVolume, Message: fmt.Sprintf(
						"the pod stays off the host: projected volume %q reads a cluster trust bundle or a pod certificate, which are the host's, not the vcluster's", v.Name)}
				}
			}
		}
	}
	return nil
}

// volumeType is the name a pod spec gives the source's type: the JSON name
// of its one set field.
func volumeType(src corev1.VolumeSource) string {
	v := reflect.ValueOf(src)
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			return name
		}
	}
	return "unknown"
}
