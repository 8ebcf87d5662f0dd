package pods

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vfleet/vfleet/syncer"
)

// TestDownward: each downward API field reads, on the host pod, what it
// reads on the virtual pod; fields both sides share are left alone.
func TestDownward(t *testing.T) {
	virtual := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop", UID: "u-1",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"batch.kubernetes.io/job-completion-index": "1", "note": `say "hi"`}},
		Spec: corev1.PodSpec{ServiceAccountName: "builder"},
	}
	ann := func(k string) string { return "metadata.annotations['" + k + "']" }
	cases := []struct {
		field, wantPath, wantValue string
	}{
		{"metadata.name", ann(syncer.AnnotationVirtualName), ""},
		{"metadata.namespace", ann(syncer.AnnotationVirtualNamespace), ""},
		{"metadata.uid", ann(syncer.AnnotationVirtualUID), ""},
		{"spec.serviceAccountName", ann(annotationServiceAccount), "builder"},
		{"metadata.labels['tier']", "metadata.labels['" + syncer.HostLabelKey("tier") + "']", ""},
		{"metadata.labels", ann(annotationLabels), "app=\"web\"\ntier=\"front\""},
		{"metadata.annotations", ann(annotationAnnotations), "batch.kubernetes.io/job-completion-index=\"1\"\nnote=\"say \\\"hi\\\"\""},
		{"spec.nodeName", "spec.nodeName", ""},
		{"status.podIP", "status.podIP", ""},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			spec := &corev1.PodSpec{
				Containers: []corev1.Container{{Name: "main", Env: []corev1.EnvVar{{Name: "V", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: tc.field}}}}}},
				Volumes: []corev1.Volume{
					{Name: "d", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{{Path: "v", FieldRef: &corev1.ObjectFieldSelector{FieldPath: tc.field}}}}}},
					{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "v", FieldRef: &corev1.ObjectFieldSelector{FieldPath: tc.field}}}}}}}}},
				},
			}
			got := downward(spec, virtual)
			for where, path := range map[string]string{
				"env":       spec.Containers[0].Env[0].ValueFrom.FieldRef.FieldPath,
				"volume":    spec.Volumes[0].DownwardAPI.Items[0].FieldRef.FieldPath,
				"projected": spec.Volumes[1].Projected.Sources[0].DownwardAPI.Items[0].FieldRef.FieldPath,
			} {
				if path != tc.wantPath {
					t.Errorf("%s: %q, want %q", where, path, tc.wantPath)
				}
			}
			if tc.wantValue != "" {
				key := tc.wantPath[len("metadata.annotations['") : len(tc.wantPath)-2]
				if got[key] != tc.wantValue {
					t.Errorf("annotation %s = %q, want %q", key, got[key], tc.wantValue)
				}
			}
		})
	}
	// One annotation: its value under vfleet's key, under a hash of the key.
	spec := &corev1.PodSpec{Containers: []corev1.Container{{Env: []corev1.EnvVar{{Name: "JOB_COMPLETION_INDEX",
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}}}}}
	got := downward(spec, virtual)
	path := spec.Containers[0].Env[0].ValueFrom.FieldRef.FieldPath
	key := path[len("metadata.annotations['") : len(path)-2]
	if len(got) != 1 || got[key] != "1" || key[:len(downwardAnnotationDomain)] != downwardAnnotationDomain {
		t.Fatalf("path %s, annotations %v", path, got)
	}
}
