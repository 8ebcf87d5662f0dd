package pods

import (
	"encoding/binary"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/randfill"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
)

// The policies a fuzzed pod meets: the safest, restricted, and one that
// opens what a class can open.
var fuzzPolicies = []fleetv1.IsolationPolicy{
	{},
	{PodSecurity: fleetv1.PodSecurityRestricted},
	{
		AllowRunAsRoot: true, AllowedVolumeTypes: []string{"csi", "ephemeral", "nfs", "iscsi", "flexVolume"},
		NodeSelector: map[string]string{"pool": "tenants"}, AllowedNodeLabels: []string{"example.com/gpu"},
		AllowedTolerations: []fleetv1.AllowedToleration{{Key: "dedicated"}, {Key: "example.com/gpu", Effect: corev1.TaintEffectNoSchedule}},
	},
}

// Words a fuzzed pod is written in, so that random pods name what matters:
// node labels, taints, vfleet's keys, users, capabilities.
var fuzzWords = []string{
	"", "app", "web", "data", "pool", "tenants", "system", "dedicated", "example.com/gpu", "rack",
	corev1.LabelHostname, corev1.LabelTopologyZone, "node-role.kubernetes.io/control-plane",
	corev1.TaintNodeNotReady, corev1.TaintNodeUnschedulable, "fleet.vfleet.dev/virtualcluster-uid", "app.kubernetes.io/name", "vfleet-controlplane",
	"Exists", "Equal", "In", "NoExecute", "NoSchedule", "PreferNoSchedule", "DoNotSchedule",
	"RuntimeDefault", "Localhost", "Unconfined", "NET_BIND_SERVICE", "SYS_ADMIN", "ALL", "Default",
	"/", "/etc", "secrets-store.csi.k8s.io", "kube-root-ca.crt",
}

func fuzzFiller(f *randfill.Filler) *randfill.Filler {
	return f.NilChance(0.6).NumElements(0, 2).MaxDepth(8).Funcs(
		func(s *string, c randfill.Continue) { *s = fuzzWords[c.Intn(len(fuzzWords))] },
		// Each switch rarely on, so that some pods pass and are translated.
		func(b *bool, c randfill.Continue) { *b = c.Intn(10) == 0 },
		func(n *int64, c randfill.Continue) { *n = []int64{0, 1000, 65534, c.Int63()}[c.Intn(4)] },
		func(n *int32, c randfill.Continue) { *n = []int32{0, 1, 80, c.Int31()}[c.Intn(4)] },
		// Mostly one source, as the API server insists, sometimes more.
		func(v *corev1.VolumeSource, c randfill.Continue) {
			rv := reflect.ValueOf(v).Elem()
			for range 1 + c.Intn(20)/19 {
				field := rv.Field(c.Intn(rv.NumField()))
				ptr := reflect.New(field.Type().Elem())
				c.Fill(ptr.Interface())
				field.Set(ptr)
			}
		},
	)
}

// checkHostPod holds a host copy to the properties translation promises:
// the copy meets the class's policy itself, and names nothing on the host
// but the vcluster's own objects in its namespace.
func checkHostPod(t *testing.T, policy fleetv1.IsolationPolicy, virtual *corev1.Pod) {
	t.Helper()
	if check(policy, virtual) != nil {
		return
	}
	s := testContext(policy)
	host := hostPod(s, virtual, nil)
	if err := check(policy, host); err != nil {
		t.Fatalf("a pod that passed has a host copy that breaks the class: %v\nvirtual: %+v\nhost: %+v", err, virtual.Spec, host.Spec)
	}
	for k := range host.Labels {
		if !strings.HasPrefix(k, syncer.TenantLabelDomain+"/") {
			t.Fatalf("label %q reached the host as the tenant wrote it", k)
		}
	}
	// Only the values the pod's downward API fields read, under vfleet's
	// keys: no annotation of the tenant's means anything on the host.
	for k := range host.Annotations {
		if !strings.HasPrefix(k, "fleet.vfleet.dev/virtual-") && !strings.HasPrefix(k, downwardAnnotationDomain+"/") {
			t.Fatalf("annotation %q reached the host", k)
		}
	}
	for k, v := range policy.NodeSelector {
		if host.Spec.NodeSelector[k] != v {
			t.Fatalf("the host copy is not pinned to %s=%s: %v", k, v, host.Spec.NodeSelector)
		}
	}
	for _, tol := range host.Spec.Tolerations {
		wait := tol.Effect == corev1.TaintEffectNoExecute && slices.Contains(waitTolerations, tol.Key)
		if !wait && !fleetv1.TolerationAllowed(tol.Key, string(tol.Effect), policy.AllowedTolerations) {
			t.Fatalf("the host copy tolerates %+v, which the class does not hand out", tol)
		}
	}
	if !policy.AllowRunAsRoot && (host.Spec.SecurityContext == nil || host.Spec.SecurityContext.RunAsNonRoot == nil || !*host.Spec.SecurityContext.RunAsNonRoot) {
		t.Fatalf("the host copy may run as root: %+v", host.Spec.SecurityContext)
	}
	if host.Spec.ServiceAccountName != "" || host.Spec.AutomountServiceAccountToken == nil || *host.Spec.AutomountServiceAccountToken {
		t.Fatalf("the host copy takes a host service account: %q automount %v", host.Spec.ServiceAccountName, host.Spec.AutomountServiceAccountToken)
	}
	// Every name the copy refers to is the host name of one the virtual pod
	// refers to in its namespace, or its token's Secret. The names are
	// found by reflection, not by the walk translation uses, so that a
	// reference the walk misses is caught.
	ours := map[string]bool{tokenSecretName(s, virtual): true}
	for _, name := range objectNames(reflect.ValueOf(virtual.Spec)) {
		ours[s.HostName(name, virtual.Namespace)] = true
	}
	for _, name := range objectNames(reflect.ValueOf(host.Spec)) {
		if !ours[name] {
			t.Fatalf("the host copy names %q, which is not the vcluster's", name)
		}
	}
	for _, term := range podAffinityTerms(host.Spec.Affinity) {
		if term.Namespaces != nil || term.NamespaceSelector != nil {
			t.Fatalf("an affinity term names host namespaces: %+v", term)
		}
	}
	if host.Spec.NodeName != "" || host.Spec.PriorityClassName != "" || host.Spec.RuntimeClassName != nil {
		t.Fatalf("the host copy chooses its node, priority or runtime: %q %q %v", host.Spec.NodeName, host.Spec.PriorityClassName, host.Spec.RuntimeClassName)
	}
}

// FuzzHostPod: no pod, however written, gets a host copy that breaks its
// class or names what is not its vcluster's. `make fuzz` runs it longer.
func FuzzHostPod(f *testing.F) {
	for i := range 1000 {
		f.Add(binary.LittleEndian.AppendUint64(nil, uint64(i)*0x9e3779b97f4a7c15))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		policy := fuzzPolicies[int(data[0])%len(fuzzPolicies)]
		pod := &corev1.Pod{}
		fuzzFiller(randfill.NewFromGoFuzz(data)).Fill(pod)
		pod.Name, pod.Namespace = "fuzzed", "app"
		checkHostPod(t, policy, pod)
	})
}

// objectNames are the names of namespaced objects anywhere in v: every
// LocalObjectReference and TypedLocalObjectReference, and the fields that
// name a Secret, a claim or a resource claim by a string of their own.
func objectNames(v reflect.Value) []string {
	var out []string
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			out = objectNames(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			out = append(out, objectNames(v.Index(i))...)
		}
	case reflect.Struct:
		switch ref := v.Interface().(type) {
		case corev1.LocalObjectReference:
			return nonEmpty(ref.Name)
		case corev1.TypedLocalObjectReference:
			return nonEmpty(ref.Name)
		case corev1.TypedObjectReference:
			return nonEmpty(ref.Name)
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			switch {
			case !f.IsExported():
			case f.Type.Kind() == reflect.String && slices.Contains(namingFields, f.Name):
				out = append(out, nonEmpty(v.Field(i).String())...)
			case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.String && slices.Contains(namingFields, f.Name):
				if !v.Field(i).IsNil() {
					out = append(out, nonEmpty(v.Field(i).Elem().String())...)
				}
			default:
				out = append(out, objectNames(v.Field(i))...)
			}
		}
	}
	return out
}

// namingFields name a namespaced object with a string of their own.
var namingFields = []string{"SecretName", "ClaimName", "ResourceClaimName", "ResourceClaimTemplateName"}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
