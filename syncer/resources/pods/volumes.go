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
		if err := checkClaimTemplate(v); err != nil {
			return err
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
// of its one set field. The API server refuses a volume with more than
// one; should one come anyway, it is of no type a class can allow.
func volumeType(src corev1.VolumeSource) string {
	v := reflect.ValueOf(src)
	typ := ""
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			if typ != "" {
				return "several"
			}
			typ, _, _ = strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		}
	}
	if typ == "" {
		return "unknown"
	}
	return typ
}

// checkClaimTemplate refuses a generic ephemeral volume whose claim would
// reach the host's volumes: one named (volumeName) or selected by label
// binds a host PersistentVolume, and a data source is looked up among the
// host namespace's objects, where the vcluster's other claims live under
// other names. Its storage class is the host's offer, as for any claim.
func checkClaimTemplate(v corev1.Volume) error {
	if v.Ephemeral == nil || v.Ephemeral.VolumeClaimTemplate == nil {
		return nil
	}
	spec := v.Ephemeral.VolumeClaimTemplate.Spec
	var fields []string
	if spec.VolumeName != "" {
		fields = append(fields, "volumeName")
	}
	if spec.Selector != nil {
		fields = append(fields, "selector")
	}
	if spec.DataSource != nil {
		fields = append(fields, "dataSource")
	}
	if spec.DataSourceRef != nil {
		fields = append(fields, "dataSourceRef")
	}
	if len(fields) == 0 {
		return nil
	}
	return &syncer.Refusal{Reason: ReasonVolume, Message: fmt.Sprintf(
		"the pod stays off the host: the claim of ephemeral volume %q sets %s, which would name the host's volumes or objects: leave them out and let the claim be provisioned",
		v.Name, strings.Join(fields, ", "))}
}

// ReasonDeviceClaim is the Event reason of a pod kept off the host for
// claiming devices.
const ReasonDeviceClaim = "ForbiddenResourceClaim"

// checkResourceClaims refuses a pod that claims devices (dynamic resource
// allocation): its claims are not synced, so their names would be looked
// up among the host's objects, and the host's devices are the admin's to
// hand out.
func checkResourceClaims(_ fleetv1.IsolationPolicy, pod *corev1.Pod) error {
	if len(pod.Spec.ResourceClaims) == 0 {
		return nil
	}
	return &syncer.Refusal{Reason: ReasonDeviceClaim, Message: fmt.Sprintf(
		"the pod stays off the host: it claims devices (resourceClaims %q), which vclusters cannot yet: remove spec.resourceClaims",
		pod.Spec.ResourceClaims[0].Name)}
}
