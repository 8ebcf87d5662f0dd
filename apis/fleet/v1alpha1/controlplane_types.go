package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ControlPlaneSpec is the hub's instruction to one host: run this vcluster's
// control plane at this epoch, with this configuration and these store
// credentials.
// +kubebuilder:validation:XValidation:rule="self.virtualCluster == oldSelf.virtualCluster",message="virtualCluster is immutable: a ControlPlane belongs to one vcluster"
// +kubebuilder:validation:XValidation:rule="self.epoch >= oldSelf.epoch",message="epoch may only grow"
type ControlPlaneSpec struct {
	// virtualCluster is the VirtualCluster this control plane serves.
	// +required
	VirtualCluster VirtualClusterReference `json:"virtualCluster"`

	// epoch is the placement this control plane belongs to. An agent runs
	// only the newest epoch it is given.
	// +required
	// +kubebuilder:validation:Minimum=1
	Epoch int64 `json:"epoch"`

	// kubernetesVersion of the apiserver and controller-manager to run.
	// +required
	// +kubebuilder:validation:Pattern=`^v1\.[0-9]+\.[0-9]+$`
	KubernetesVersion string `json:"kubernetesVersion"`

	// resources become the quota of the vcluster's host namespace.
	// +required
	Resources Resources `json:"resources"`

	// store says where the control plane keeps its state.
	// +required
	Store ControlPlaneStore `json:"store"`

	// isolation is enforced by the syncer.
	// +optional
	Isolation IsolationPolicy `json:"isolation,omitempty"`

	// identitySecret names the Secret, in the ControlPlane's namespace,
	// with the vcluster's identity: its CAs, service-account key and admin
	// credentials, the same for every epoch on every host. Empty: the
	// control plane makes its own, which a move does not keep.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	IdentitySecret string `json:"identitySecret,omitempty"`

	// serverName is the name the region's gateway routes the vcluster's
	// connections by (TLS SNI): the apiserver's certificate covers it.
	// Empty when the hub names no gateway.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ServerName string `json:"serverName,omitempty"`

	// sleeping stops the control plane, keeping its state.
	// +optional
	Sleeping bool `json:"sleeping,omitempty"`
}

// VirtualClusterReference points at a VirtualCluster.
type VirtualClusterReference struct {
	// +required
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +required
	UID string `json:"uid"`
}

// ControlPlaneStore is the store a control plane uses, resolved by the hub.
// +kubebuilder:validation:XValidation:rule="self.type == 'Embedded' || (has(self.driver) && has(self.endpoint) && has(self.credentialsSecret))",message="an External store needs driver, endpoint and credentialsSecret"
type ControlPlaneStore struct {
	// +required
	Type BackingStoreType `json:"type"`

	// driver of an External store.
	// +optional
	Driver BackingStoreDriver `json:"driver,omitempty"`

	// endpoint of an External store.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Endpoint string `json:"endpoint,omitempty"`

	// database (PostgreSQL) or key prefix (etcd) that holds this vcluster.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Database string `json:"database,omitempty"`

	// credentialsSecret names the Secret, in the ControlPlane's namespace,
	// with this epoch's credentials for the store.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	CredentialsSecret string `json:"credentialsSecret,omitempty"`
}

// ControlPlanePhase is where a control plane is in its life on its host.
// +kubebuilder:validation:Enum=Pending;Starting;Running;Sleeping;Stopped;Failed
type ControlPlanePhase string

// ControlPlane phases.
const (
	ControlPlanePending  ControlPlanePhase = "Pending"
	ControlPlaneStarting ControlPlanePhase = "Starting"
	ControlPlaneRunning  ControlPlanePhase = "Running"
	ControlPlaneSleeping ControlPlanePhase = "Sleeping"
	ControlPlaneStopped  ControlPlanePhase = "Stopped"
	ControlPlaneFailed   ControlPlanePhase = "Failed"
)

// ControlPlaneStatus is written by the agent that runs the control plane.
type ControlPlaneStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// +optional
	Phase ControlPlanePhase `json:"phase,omitempty"`

	// epoch the running control plane belongs to.
	// +optional
	Epoch int64 `json:"epoch,omitempty"`

	// endpoint of the control plane's API server.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// restarts counts how often a crashed process of the control plane was
	// restarted.
	// +optional
	Restarts int32 `json:"restarts,omitempty"`

	// used is what the vcluster's pods on the host request, not counting
	// the control plane's own: what cost metrics compare with what the
	// vcluster reserves.
	// +optional
	Used *ResourceUse `json:"used,omitempty"`

	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cp,categories=vfleet
// +kubebuilder:printcolumn:name="VCluster",type=string,JSONPath=`.spec.virtualCluster.name`
// +kubebuilder:printcolumn:name="Epoch",type=integer,JSONPath=`.spec.epoch`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Restarts",type=integer,JSONPath=`.status.restarts`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ControlPlane lives in the namespace vfleet-host-<host> on the management
// cluster: the hub's instruction to that host's agent to run one vcluster.
type ControlPlane struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ControlPlaneSpec `json:"spec"`
	// +optional
	Status ControlPlaneStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ControlPlaneList is a list of ControlPlanes.
type ControlPlaneList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ControlPlane `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &ControlPlane{}, &ControlPlaneList{})
}
