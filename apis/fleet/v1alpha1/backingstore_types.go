package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackingStoreDriver is the kind of server a BackingStore is.
// +kubebuilder:validation:Enum=PostgreSQL;Etcd
type BackingStoreDriver string

// Backing store drivers.
const (
	DriverPostgreSQL BackingStoreDriver = "PostgreSQL"
	DriverEtcd       BackingStoreDriver = "Etcd"
)

// BackingStoreSpec describes an external server vfleet may provision
// vcluster databases (PostgreSQL) or key prefixes (etcd) on, with
// credentials per epoch.
// +kubebuilder:validation:XValidation:rule="self.driver == oldSelf.driver",message="driver is immutable: vclusters' state is already in this server"
// +kubebuilder:validation:XValidation:rule="self.driver != 'PostgreSQL' || self.endpoint.matches('^[^/, ]+:[0-9]+$')",message="a PostgreSQL endpoint is host:port"
// +kubebuilder:validation:XValidation:rule="self.driver != 'Etcd' || self.endpoint.matches('^https://[^, ]+(,https://[^, ]+)*$')",message="an Etcd endpoint is one or more https:// client URLs, comma-separated: vfleet authenticates to etcd with client certificates"
type BackingStoreSpec struct {
	// driver is PostgreSQL or Etcd.
	// +required
	Driver BackingStoreDriver `json:"driver"`

	// endpoint the hub and control planes connect to: host:port for
	// PostgreSQL; for etcd, the members' https:// client URLs,
	// comma-separated.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Endpoint string `json:"endpoint"`

	// region the store runs in.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Region string `json:"region"`

	// reachableFromRegions lists other regions whose hosts can reach the
	// store; hosts in its own region always can.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	ReachableFromRegions []string `json:"reachableFromRegions,omitempty"`

	// adminCredentials is the Secret with the credentials the hub uses to
	// create databases, prefixes, roles and users. PostgreSQL: username
	// and password of a superuser. Etcd: tls.crt and tls.key, the client
	// certificate of a user with the root role, and client-ca.crt and
	// client-ca.key, a CA the server trusts for client certificates, which
	// signs a certificate for each epoch's user; the server must have
	// --client-cert-auth and auth enabled, or epochs could not be fenced.
	// +required
	AdminCredentials SecretReference `json:"adminCredentials"`

	// caSecret, if set, is a Secret whose ca.crt verifies the server
	// (etcd); without it the system's roots do.
	// +optional
	CASecret *SecretReference `json:"caSecret,omitempty"`
}

// SecretReference names a Secret on the management cluster.
type SecretReference struct {
	// +required
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// BackingStoreStatus is written by the hub.
type BackingStoreStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (the hub can log in and provision).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// virtualClusters is how many vclusters keep their state here.
	// +optional
	VirtualClusters int32 `json:"virtualClusters,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=bs,categories=vfleet
// +kubebuilder:printcolumn:name="Driver",type=string,JSONPath=`.spec.driver`
// +kubebuilder:printcolumn:name="Region",type=string,JSONPath=`.spec.region`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="VClusters",type=integer,JSONPath=`.status.virtualClusters`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// BackingStore is an external PostgreSQL or etcd that keeps the state of
// vclusters that can fail over.
type BackingStore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec BackingStoreSpec `json:"spec"`
	// +optional
	Status BackingStoreStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BackingStoreList is a list of BackingStores.
type BackingStoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BackingStore `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &BackingStore{}, &BackingStoreList{})
}
