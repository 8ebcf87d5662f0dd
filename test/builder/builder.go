// Package builder makes fleet API objects for tests, in the manner of
// jobset's wrappers: MakeVirtualCluster("ns", "a").CPU("2").Obj().
package builder

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// VirtualClusterWrapper builds a VirtualCluster.
type VirtualClusterWrapper struct{ fleetv1.VirtualCluster }

// MakeVirtualCluster returns a valid Embedded VirtualCluster with 1 CPU and
// 1Gi of memory.
func MakeVirtualCluster(namespace, name string) *VirtualClusterWrapper {
	return &VirtualClusterWrapper{fleetv1.VirtualCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: fleetv1.VirtualClusterSpec{
			KubernetesVersion: "v1.36.3",
			Resources:         fleetv1.Resources{CPU: resource.MustParse("1"), Memory: resource.MustParse("1Gi")},
		},
	}}
}

// Obj returns the object.
func (w *VirtualClusterWrapper) Obj() *fleetv1.VirtualCluster { return &w.VirtualCluster }

// CPU sets the CPU quota; it panics on a malformed quantity, so use Raw
// for bad input.
func (w *VirtualClusterWrapper) CPU(q string) *VirtualClusterWrapper {
	w.Spec.Resources.CPU = resource.MustParse(q)
	return w
}

// Memory sets the memory quota.
func (w *VirtualClusterWrapper) Memory(q string) *VirtualClusterWrapper {
	w.Spec.Resources.Memory = resource.MustParse(q)
	return w
}

// Version sets the Kubernetes version.
func (w *VirtualClusterWrapper) Version(v string) *VirtualClusterWrapper {
	w.Spec.KubernetesVersion = v
	return w
}

// External puts the vcluster's state on the named BackingStore.
func (w *VirtualClusterWrapper) External(store string) *VirtualClusterWrapper {
	w.Spec.BackingStore = fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreExternal, Name: store}
	return w
}

// Pods sets the most pods the vcluster may run.
func (w *VirtualClusterWrapper) Pods(n int32) *VirtualClusterWrapper {
	w.Spec.Resources.Pods = n
	return w
}

// Storage sets the vcluster's total of persistent volume claims.
func (w *VirtualClusterWrapper) Storage(q string) *VirtualClusterWrapper {
	s := resource.MustParse(q)
	w.Spec.Resources.Storage = &s
	return w
}

// Tolerate lets the vcluster run on hosts with the taint key:effect.
func (w *VirtualClusterWrapper) Tolerate(key string, effect corev1.TaintEffect) *VirtualClusterWrapper {
	w.Spec.Placement.Tolerations = append(w.Spec.Placement.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect})
	return w
}

// Class puts the vcluster under the named VirtualClusterClass.
func (w *VirtualClusterWrapper) Class(name string) *VirtualClusterWrapper {
	w.Spec.ClassName = name
	return w
}

// MakeClass returns a VirtualClusterClass that allows stores and nothing
// else beyond the safest policy.
func MakeClass(name string, stores ...string) *fleetv1.VirtualClusterClass {
	return &fleetv1.VirtualClusterClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: fleetv1.VirtualClusterClassSpec{
			Isolation:     fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityBaseline},
			AllowedStores: stores,
		},
	}
}

// Regions restricts placement to regions.
func (w *VirtualClusterWrapper) Regions(regions ...string) *VirtualClusterWrapper {
	w.Spec.Placement.Regions = regions
	return w
}

// HostClusterWrapper builds a HostCluster.
type HostClusterWrapper struct{ fleetv1.HostCluster }

// MakeHostCluster returns a HostCluster in region.
func MakeHostCluster(name, region string) *HostClusterWrapper {
	return &HostClusterWrapper{fleetv1.HostCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       fleetv1.HostClusterSpec{Region: region},
	}}
}

// Obj returns the object.
func (w *HostClusterWrapper) Obj() *fleetv1.HostCluster { return &w.HostCluster }

// Zone sets the zone.
func (w *HostClusterWrapper) Zone(z string) *HostClusterWrapper {
	w.Spec.Zone = z
	return w
}

// Cordoned marks the host unschedulable.
func (w *HostClusterWrapper) Cordoned() *HostClusterWrapper {
	w.Spec.Unschedulable = true
	return w
}

// Taint adds a taint.
func (w *HostClusterWrapper) Taint(key string, effect corev1.TaintEffect) *HostClusterWrapper {
	w.Spec.Taints = append(w.Spec.Taints, corev1.Taint{Key: key, Effect: effect})
	return w
}

// Labels sets labels.
func (w *VirtualClusterWrapper) Labels(kv ...string) *VirtualClusterWrapper {
	if w.ObjectMeta.Labels == nil {
		w.ObjectMeta.Labels = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		w.ObjectMeta.Labels[kv[i]] = kv[i+1]
	}
	return w
}

// Strategy sets the placement strategy.
func (w *VirtualClusterWrapper) Strategy(s fleetv1.PlacementStrategy) *VirtualClusterWrapper {
	w.Spec.Placement.Strategy = s
	return w
}

// HostStatus is what an agent and the hub would report for a healthy host.
func HostStatus(cpu, memory string, pods int64, versions ...string) fleetv1.HostClusterStatus {
	return fleetv1.HostClusterStatus{
		Conditions: []metav1.Condition{{
			Type: fleetv1.ConditionReady, Status: metav1.ConditionTrue, Reason: fleetv1.ReasonHeartbeating,
			Message: "set by a test", LastTransitionTime: metav1.Now(),
		}},
		Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory),
			corev1.ResourcePods: *resource.NewQuantity(pods, resource.DecimalSI),
		},
		KubernetesVersions: versions,
		// What an agent with default options reports.
		SelfFenceAfterSeconds: 10,
	}
}

// Sleeping asks for the vcluster asleep: placed, with its host namespace,
// but no control plane running. Tests that place many use it to keep the
// lab's processes few.
func (w *VirtualClusterWrapper) Sleeping() *VirtualClusterWrapper {
	w.Spec.Sleep = &fleetv1.SleepPolicy{Sleeping: true}
	return w
}
