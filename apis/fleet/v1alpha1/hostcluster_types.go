package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HostClusterSpec is what the fleet's operator says about a host. Its agent
// reports the rest in status.
// +kubebuilder:validation:XValidation:rule="self.region == oldSelf.region",message="region is immutable: a host does not move; delete and re-join it instead"
type HostClusterSpec struct {
	// region is where the host runs, for example eu-west-1. Placement
	// constraints and backing-store reachability are expressed in regions.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Region string `json:"region"`

	// zone is the failure domain within the region.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$`
	Zone string `json:"zone,omitempty"`

	// unschedulable cordons the host: no new virtual cluster is placed on
	// it; those already there stay.
	// +optional
	Unschedulable bool `json:"unschedulable,omitempty"`

	// taints repel virtual clusters that do not tolerate them. The hub adds
	// vfleet.dev/unreachable:NoSchedule while the host's agent is silent.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(t, t.effect in ['NoSchedule', 'PreferNoSchedule', 'NoExecute'])",message="taint effect must be NoSchedule, PreferNoSchedule or NoExecute"
	Taints []corev1.Taint `json:"taints,omitempty"`

	// overcommit lets placement commit more than the host's allocatable
	// capacity, in percent: 150 commits up to 1.5 times the CPU.
	// +optional
	Overcommit Overcommit `json:"overcommit,omitempty"`

	// prices are what an hour of the host's capacity costs, for the
	// LowestCost placement strategy and the cost dashboards.
	// +optional
	Prices *Prices `json:"prices,omitempty"`
}

// Overcommit is a percentage per resource; 100 means none.
type Overcommit struct {
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=1000
	CPUPercent int32 `json:"cpuPercent,omitempty"`

	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=1000
	MemoryPercent int32 `json:"memoryPercent,omitempty"`
}

// Prices of a host's capacity, as decimal amounts in one currency.
type Prices struct {
	// cpuHour is the price of one CPU for one hour, for example "0.031".
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]{1,9})?$`
	CPUHour string `json:"cpuHour"`

	// memoryGiBHour is the price of one GiB of memory for one hour.
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]{1,9})?$`
	MemoryGiBHour string `json:"memoryGiBHour"`

	// currency is an ISO 4217 code.
	// +optional
	// +kubebuilder:default=USD
	// +kubebuilder:validation:Pattern=`^[A-Z]{3}$`
	Currency string `json:"currency,omitempty"`
}

// HostClusterStatus is written by the host's agent (capacity, versions) and
// by the hub (conditions from the agent's heartbeat Lease, vcluster count).
type HostClusterStatus struct {
	// observedGeneration is the spec generation the hub last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (the agent heartbeats), Schedulable (placement may
	// use the host).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// allocatable is the sum over the host's Ready, schedulable nodes.
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`

	// committed is what the host has promised: the quotas of its virtual
	// clusters plus the overhead of their control planes.
	// +optional
	Committed corev1.ResourceList `json:"committed,omitempty"`

	// used is what pods in vfleet-managed host namespaces request.
	// +optional
	Used corev1.ResourceList `json:"used,omitempty"`

	// nodes is how many nodes the host has, Ready or not. Always written,
	// so that zero shows as 0.
	// +optional
	Nodes int32 `json:"nodes"`

	// virtualClusters is how many virtual clusters the host runs.
	// +optional
	VirtualClusters int32 `json:"virtualClusters"`

	// kubernetesVersions are the control-plane versions the host can run.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	KubernetesVersions []string `json:"kubernetesVersions,omitempty"`

	// region and zone as the agent was told them; they must agree with spec.
	// +optional
	Region string `json:"region,omitempty"`
	// +optional
	Zone string `json:"zone,omitempty"`

	// agentVersion is the vfleet version of the agent.
	// +optional
	AgentVersion string `json:"agentVersion,omitempty"`

	// selfFenceAfterSeconds is how long the agent goes without renewing
	// its Lease before it stops every control plane it runs. The hub
	// places vclusters that fail over only where it is below their
	// failover.afterSeconds.
	// +optional
	SelfFenceAfterSeconds int32 `json:"selfFenceAfterSeconds,omitempty"`

	// lastReportTime is when the agent last wrote this status.
	// +optional
	LastReportTime *metav1.Time `json:"lastReportTime,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=host;hosts,categories=vfleet
// +kubebuilder:printcolumn:name="Region",type=string,JSONPath=`.spec.region`
// +kubebuilder:printcolumn:name="Zone",type=string,JSONPath=`.spec.zone`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Schedulable",type=string,JSONPath=`.status.conditions[?(@.type=="Schedulable")].status`
// +kubebuilder:printcolumn:name="CPU-Alloc",type=string,JSONPath=`.status.allocatable.cpu`
// +kubebuilder:printcolumn:name="CPU-Committed",type=string,JSONPath=`.status.committed.cpu`
// +kubebuilder:printcolumn:name="Mem-Alloc",type=string,JSONPath=`.status.allocatable.memory`,priority=1
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodes`,priority=1
// +kubebuilder:printcolumn:name="VClusters",type=integer,JSONPath=`.status.virtualClusters`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// HostCluster is one host cluster of the fleet: a Kubernetes cluster whose
// nodes run the workloads of the virtual clusters placed on it.
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 51 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="name must be a DNS label of at most 51 characters, so that vfleet-host-<name> is a valid namespace"
type HostCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec HostClusterSpec `json:"spec"`
	// +optional
	Status HostClusterStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// HostClusterList is a list of HostClusters.
type HostClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []HostCluster `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &HostCluster{}, &HostClusterList{})
}

// HostNamespacePrefix starts the name of every host's namespace on the
// management cluster.
const HostNamespacePrefix = "vfleet-host-"

// HostNamespace is the namespace on the management cluster that belongs to
// host: its agent's credentials, heartbeat Lease and ControlPlanes live there.
func HostNamespace(host string) string { return HostNamespacePrefix + host }

// AgentLeaseName is the name of the agent's heartbeat Lease in its host's
// namespace.
const AgentLeaseName = "agent"

// AgentServiceAccount is the name of the agent's ServiceAccount in its
// host's namespace.
const AgentServiceAccount = "agent"
