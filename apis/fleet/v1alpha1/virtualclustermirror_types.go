package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VirtualClusterMirrorStatus says where a federation's vcluster of
// another region lives, as the federation's ledger has it.
type VirtualClusterMirrorStatus struct {
	// region runs the vcluster; its hub and management cluster are where
	// it is changed, and its kubeconfig is read.
	// +optional
	Region string `json:"region,omitempty"`
	// host runs its current epoch.
	// +optional
	Host string `json:"host,omitempty"`
	// epoch is its current epoch; fencedEpoch the highest fenced on its
	// store.
	// +optional
	Epoch int64 `json:"epoch,omitempty"`
	// +optional
	FencedEpoch int64 `json:"fencedEpoch,omitempty"`
	// phase is the vcluster's, and ready whether it is Ready, as its
	// region last reported them.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Phase string `json:"phase,omitempty"`
	// +optional
	Ready bool `json:"ready,omitempty"`
	// store names its BackingStore.
	// +optional
	Store string `json:"store,omitempty"`
	// message says why the vcluster stays in its region when that region
	// has stopped reporting and no surviving region takes it over.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
	// observedTime is when this hub last copied it from the ledger.
	// +optional
	ObservedTime *metav1.Time `json:"observedTime,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vcm,categories=vfleet
// +kubebuilder:printcolumn:name="Region",type=string,JSONPath=`.status.region`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Host",type=string,JSONPath=`.status.host`
// +kubebuilder:printcolumn:name="Epoch",type=integer,JSONPath=`.status.epoch`
// +kubebuilder:printcolumn:name="Store",type=string,JSONPath=`.status.store`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1

// VirtualClusterMirror is a read-only copy, kept by the hub, of a
// vcluster that another region of the federation runs: every region lists
// every vcluster, and says where each lives. Its spec is the vcluster's,
// as its region last recorded it. Tenants read mirrors; only the hub
// writes them.
type VirtualClusterMirror struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec VirtualClusterSpec `json:"spec,omitempty"`
	// +optional
	Status VirtualClusterMirrorStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// VirtualClusterMirrorList is a list of VirtualClusterMirrors.
type VirtualClusterMirrorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualClusterMirror `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &VirtualClusterMirror{}, &VirtualClusterMirrorList{})
}
