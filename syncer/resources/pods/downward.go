package pods

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/vfleet/vfleet/syncer"
)

// Annotations of a host pod that hold the virtual pod's own values, which
// its downward API fields read instead of the host copy's. The host's
// kubelet resolves the fields, and would otherwise give the host copy's
// name, namespace and uid, its translated labels and vfleet's marks.
const (
	annotationServiceAccount = "fleet.vfleet.dev/virtual-service-account"
	annotationLabels         = "fleet.vfleet.dev/virtual-labels"
	annotationAnnotations    = "fleet.vfleet.dev/virtual-annotations"
	// downwardAnnotationDomain holds one annotation of the virtual pod's
	// per key a field reads, under a hash of the key as labels are.
	downwardAnnotationDomain = "downward.fleet.vfleet.dev"
)

// oneKey is a field path that reads one label or annotation.
var oneKey = regexp.MustCompile(`^metadata\.(labels|annotations)\['(.*)'\]$`)

// downward points every downward API field of spec (in its containers'
// environment and its volumes) at the virtual pod's values, and returns
// the annotations that carry them on the host pod.
func downward(spec *corev1.PodSpec, virtual *corev1.Pod) map[string]string {
	ann := map[string]string{}
	path := func(p string) string {
		switch p {
		case "metadata.name":
			return annotationPath(syncer.AnnotationVirtualName)
		case "metadata.namespace":
			return annotationPath(syncer.AnnotationVirtualNamespace)
		case "metadata.uid":
			return annotationPath(syncer.AnnotationVirtualUID)
		case "spec.serviceAccountName":
			ann[annotationServiceAccount] = virtual.Spec.ServiceAccountName
			return annotationPath(annotationServiceAccount)
		case "metadata.labels":
			ann[annotationLabels] = formatMap(virtual.Labels)
			return annotationPath(annotationLabels)
		case "metadata.annotations":
			ann[annotationAnnotations] = formatMap(virtual.Annotations)
			return annotationPath(annotationAnnotations)
		}
		m := oneKey.FindStringSubmatch(p)
		switch {
		case m == nil:
			// The node, the pod's addresses: the same on both sides.
			return p
		case m[1] == "labels":
			return "metadata.labels['" + syncer.HostLabelKey(m[2]) + "']"
		default:
			key := downwardAnnotationDomain + "/" + strings.TrimPrefix(syncer.HostLabelKey(m[2]), syncer.TenantLabelDomain+"/")
			if v, ok := virtual.Annotations[m[2]]; ok {
				ann[key] = v
			}
			return annotationPath(key)
		}
	}
	field := func(f *corev1.ObjectFieldSelector) {
		if f != nil {
			f.FieldPath = path(f.FieldPath)
		}
	}
	files := func(fs []corev1.DownwardAPIVolumeFile) {
		for i := range fs {
			field(fs[i].FieldRef)
		}
	}
	env := func(vars []corev1.EnvVar) {
		for i := range vars {
			if vars[i].ValueFrom != nil {
				field(vars[i].ValueFrom.FieldRef)
			}
		}
	}
	for i := range spec.InitContainers {
		env(spec.InitContainers[i].Env)
	}
	for i := range spec.Containers {
		env(spec.Containers[i].Env)
	}
	for i := range spec.EphemeralContainers {
		env(spec.EphemeralContainers[i].Env)
	}
	for _, v := range spec.Volumes {
		if v.DownwardAPI != nil {
			files(v.DownwardAPI.Items)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.DownwardAPI != nil {
					files(src.DownwardAPI.Items)
				}
			}
		}
	}
	return ann
}

func annotationPath(key string) string { return "metadata.annotations['" + key + "']" }

// formatMap renders labels or annotations as the kubelet writes them into
// a downward API file: key="value" lines, sorted by key, quoted as Go
// quotes strings.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}
