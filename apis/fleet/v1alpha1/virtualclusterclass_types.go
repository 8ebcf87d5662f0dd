package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultClassName is the class of a VirtualCluster that names none.
const DefaultClassName = "default"

// VirtualClusterClassSpec is what an admin lets the vclusters of a class
// do. Everything a tenant could use to reach beyond its vcluster on the
// host (its isolation, its stores, where it runs, which taints it
// tolerates, how much it takes) is here, out of the tenant's hands.
type VirtualClusterClassSpec struct {
	// isolation the syncer enforces on every vcluster of the class.
	// +optional
	Isolation IsolationPolicy `json:"isolation,omitempty"`

	// allowedStores names the BackingStores the class's vclusters may keep
	// their state in. Embedded state (SQLite on the host) is always
	// allowed; an empty list allows no External store.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	AllowedStores []string `json:"allowedStores,omitempty"`

	// allowedRegions the class's vclusters may run in; empty means any.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	AllowedRegions []string `json:"allowedRegions,omitempty"`

	// allowedTolerations are the host taints the class's vclusters may
	// tolerate. A vcluster's toleration passes if one of these has its key
	// and, when set here, its effect. Empty allows none: a tainted host is
	// the admin's to hand out.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	AllowedTolerations []AllowedToleration `json:"allowedTolerations,omitempty"`

	// maxResources caps each vcluster of the class; an unset field is not
	// capped.
	// +optional
	MaxResources ResourceCeiling `json:"maxResources,omitempty"`

	// sleep is what the class's vclusters keep while they sleep.
	// +optional
	Sleep ClassSleepPolicy `json:"sleep,omitempty"`
}

// AllowedToleration is a host taint a vcluster may tolerate.
type AllowedToleration struct {
	// key of the taint.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	Key string `json:"key"`

	// effect of the taint; empty allows every effect.
	// +optional
	// +kubebuilder:validation:Enum=NoSchedule;PreferNoSchedule;NoExecute
	Effect corev1.TaintEffect `json:"effect,omitempty"`
}

// ResourceCeiling is the most a vcluster of a class may ask for.
// +kubebuilder:validation:XValidation:rule="!has(self.cpu) || quantity(string(self.cpu)).isGreaterThan(quantity('0'))",message="maxResources.cpu must be positive"
// +kubebuilder:validation:XValidation:rule="!has(self.memory) || quantity(string(self.memory)).isGreaterThan(quantity('0'))",message="maxResources.memory must be positive"
// +kubebuilder:validation:XValidation:rule="!has(self.storage) || !quantity(string(self.storage)).isLessThan(quantity('0'))",message="maxResources.storage must not be negative"
type ResourceCeiling struct {
	// +optional
	CPU *resource.Quantity `json:"cpu,omitempty"`
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=1
	Pods *int32 `json:"pods,omitempty"`
	// +optional
	Storage *resource.Quantity `json:"storage,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=vcc,categories=vfleet
// +kubebuilder:printcolumn:name="PodSecurity",type=string,JSONPath=`.spec.isolation.podSecurity`
// +kubebuilder:printcolumn:name="NodePorts",type=boolean,JSONPath=`.spec.isolation.allowNodePorts`
// +kubebuilder:printcolumn:name="Stores",type=string,JSONPath=`.spec.allowedStores`
// +kubebuilder:printcolumn:name="Regions",type=string,JSONPath=`.spec.allowedRegions`
// +kubebuilder:printcolumn:name="Max-CPU",type=string,JSONPath=`.spec.maxResources.cpu`
// +kubebuilder:printcolumn:name="Asleep",type=string,JSONPath=`.spec.sleep.reservation`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// VirtualClusterClass is an admin's policy for the vclusters that name it:
// their isolation on the host, the stores, regions and host taints open to
// them, and their largest size. Tenants read classes and pick one; they do
// not write them.
type VirtualClusterClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec VirtualClusterClassSpec `json:"spec,omitempty"`
}

// +kubebuilder:object:root=true

// VirtualClusterClassList is a list of VirtualClusterClasses.
type VirtualClusterClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualClusterClass `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &VirtualClusterClass{}, &VirtualClusterClassList{})
}
