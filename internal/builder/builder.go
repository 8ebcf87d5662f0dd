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
