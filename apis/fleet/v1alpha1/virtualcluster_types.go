package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// VirtualClusterSpec is a tenant's request for a cluster.
type VirtualClusterSpec struct {
	// className names the VirtualClusterClass whose policy the vcluster
	// runs under: its isolation on the host, the stores, regions and
	// taints open to it, its largest size. Empty means the class named
	// "default"; without one, the safest policy (Baseline Pod Security, no
	// NodePorts or externalIPs, Embedded state only, no tolerations).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ClassName string `json:"className,omitempty"`

	// kubernetesVersion of the control plane, for example v1.36.3. Only
	// hosts that have this version's binaries are considered.
	// +required
	// +kubebuilder:validation:Pattern=`^v1\.[0-9]+\.[0-9]+$`
	KubernetesVersion string `json:"kubernetesVersion"`

	// resources the vcluster may use on its host; they become its host
	// namespace's quota.
	// +required
	Resources Resources `json:"resources"`

	// backingStore says where the vcluster's state lives.
	// +optional
	// +kubebuilder:default={type: Embedded}
	BackingStore VirtualClusterStore `json:"backingStore,omitempty"`

	// placement constrains and steers which host runs the vcluster.
	// +optional
	Placement Placement `json:"placement,omitempty"`

	// failover says what happens when the host is lost.
	// +optional
	Failover FailoverPolicy `json:"failover,omitempty"`

	// sleep stops the control plane while the vcluster is unused; its state
	// stays and it wakes on demand.
	// +optional
	Sleep *SleepPolicy `json:"sleep,omitempty"`
}

// VirtualClusterStore selects the backing store. Moving a vcluster between
// stores is a migration, not an edit, so both fields are immutable.
// +kubebuilder:validation:XValidation:rule="self.type == oldSelf.type",message="backingStore.type is immutable: create a new VirtualCluster to change where its state lives"
// +kubebuilder:validation:XValidation:rule="has(self.name) == has(oldSelf.name) && (!has(self.name) || self.name == oldSelf.name)",message="backingStore.name is immutable"
// +kubebuilder:validation:XValidation:rule="self.type == 'External' ? has(self.name) && self.name.size() > 0 : !has(self.name)",message="backingStore.name names a BackingStore and is required exactly when type is External"
type VirtualClusterStore struct {
	// type is Embedded (SQLite on the host; cannot fail over) or External
	// (a database or key prefix on a BackingStore; can fail over).
	// +optional
	// +kubebuilder:default=Embedded
	Type BackingStoreType `json:"type,omitempty"`

	// name of the BackingStore, when type is External.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
}

// PlacementStrategy chooses among hosts that fit.
// +kubebuilder:validation:Enum=BinPack;Spread;LowestCost
type PlacementStrategy string

// Placement strategies.
const (
	// StrategyBinPack prefers the fullest host that fits, leaving whole
	// hosts free.
	StrategyBinPack PlacementStrategy = "BinPack"
	// StrategySpread prefers the emptiest host.
	StrategySpread PlacementStrategy = "Spread"
	// StrategyLowestCost prefers the cheapest host.
	StrategyLowestCost PlacementStrategy = "LowestCost"
)

// Placement constrains which hosts may run a vcluster and how one is chosen.
type Placement struct {
	// regions the vcluster may run in; empty means any.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	Regions []string `json:"regions,omitempty"`

	// zones the vcluster may run in; empty means any.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	Zones []string `json:"zones,omitempty"`

	// hostSelector selects hosts by their labels.
	// +optional
	HostSelector *metav1.LabelSelector `json:"hostSelector,omitempty"`

	// tolerations let the vcluster run on hosts with matching taints.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// strategy chooses among the hosts that fit; the hub's default applies
	// when it is empty.
	// +optional
	Strategy PlacementStrategy `json:"strategy,omitempty"`

	// antiAffinity keeps vclusters that share a label value apart.
	// +optional
	AntiAffinity *AntiAffinity `json:"antiAffinity,omitempty"`
}

// AntiAffinityScope is what two vclusters must not share.
// +kubebuilder:validation:Enum=Host;Zone
type AntiAffinityScope string

// Anti-affinity scopes.
const (
	AntiAffinityHost AntiAffinityScope = "Host"
	AntiAffinityZone AntiAffinityScope = "Zone"
)

// AntiAffinity keeps vclusters whose labelKey has the same value off the
// same host, or the same zone: one tenant's replicas across zones, say.
type AntiAffinity struct {
	// labelKey is the VirtualCluster label compared.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	LabelKey string `json:"labelKey"`

	// scope is Host or Zone.
	// +optional
	// +kubebuilder:default=Host
	Scope AntiAffinityScope `json:"scope,omitempty"`
}

// FailoverMode says whether the hub fails a vcluster over by itself.
// +kubebuilder:validation:Enum=Automatic;Manual
type FailoverMode string

// Failover modes.
const (
	FailoverAutomatic FailoverMode = "Automatic"
	FailoverManual    FailoverMode = "Manual"
)

// FailoverPolicy says when a vcluster is brought back on another host. Only
// vclusters with an External backing store can fail over.
type FailoverPolicy struct {
	// mode is Automatic (the hub fails over after afterSeconds) or Manual
	// (only `vfleet failover` does).
	// +optional
	// +kubebuilder:default=Automatic
	Mode FailoverMode `json:"mode,omitempty"`

	// afterSeconds is how long the host may be silent, counted from its
	// last heartbeat, before the vcluster fails over.
	// +optional
	// +kubebuilder:default=15
	// +kubebuilder:validation:Minimum=5
	// +kubebuilder:validation:Maximum=3600
	AfterSeconds int32 `json:"afterSeconds,omitempty"`
}

// SleepPolicy puts an unused vcluster to sleep.
// +kubebuilder:validation:XValidation:rule="!has(self.afterInactivity) || duration(self.afterInactivity) >= duration('30s')",message="sleep.afterInactivity must be at least 30s: the gateway reports use every 10s, and a vcluster takes seconds to wake"
type SleepPolicy struct {
	// afterInactivity puts the vcluster to sleep once no request has
	// reached its API through the region's gateway for this long, for
	// example 30m; the next request wakes it. Empty means never on its
	// own. The hub needs a gateway to act on it.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	AfterInactivity *metav1.Duration `json:"afterInactivity,omitempty"`

	// sleeping puts the vcluster to sleep now (true) or wakes it (false).
	// +optional
	Sleeping bool `json:"sleeping,omitempty"`
}

// VirtualClusterPhase is where a vcluster is in its life.
// +kubebuilder:validation:Enum=Pending;Scheduled;Provisioning;Ready;FailingOver;Sleeping;Deleting;Failed;Elsewhere
type VirtualClusterPhase string

// VirtualCluster phases.
const (
	PhasePending      VirtualClusterPhase = "Pending"
	PhaseScheduled    VirtualClusterPhase = "Scheduled"
	PhaseProvisioning VirtualClusterPhase = "Provisioning"
	PhaseReady        VirtualClusterPhase = "Ready"
	PhaseFailingOver  VirtualClusterPhase = "FailingOver"
	PhaseSleeping     VirtualClusterPhase = "Sleeping"
	PhaseDeleting     VirtualClusterPhase = "Deleting"
	PhaseFailed       VirtualClusterPhase = "Failed"
	// PhaseElsewhere is a federation's vcluster that another region runs:
	// it took it over while this one was lost, or this one had no room.
	// This copy runs nothing.
	PhaseElsewhere VirtualClusterPhase = "Elsewhere"
)

// VirtualClusterStatus is written by the hub.
type VirtualClusterStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase summarises the conditions.
	// +optional
	Phase VirtualClusterPhase `json:"phase,omitempty"`

	// host runs the vcluster now.
	// +optional
	Host string `json:"host,omitempty"`

	// epoch counts placements; each (re)placement increments it, and only
	// the control plane of the current epoch may write to the store.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Epoch int64 `json:"epoch,omitempty"`

	// endpoint is the URL of the vcluster's API server.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// kubeconfigSecret names the Secret, next to the VirtualCluster, that
	// holds the tenant's kubeconfig.
	// +optional
	KubeconfigSecret string `json:"kubeconfigSecret,omitempty"`

	// conditions: Scheduled, Provisioned, Ready, and more with each step,
	// each with a reason and a message a person can act on.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// fencedEpoch is the latest epoch whose store credentials the hub has
	// revoked. When it reaches epoch, the control plane of that epoch can
	// no longer write and the vcluster is being placed again.
	// +optional
	// +kubebuilder:validation:Minimum=0
	FencedEpoch int64 `json:"fencedEpoch,omitempty"`

	// fencingEpoch is the epoch whose fence has begun. Its store
	// credentials may be revoked already, so the fence is carried through
	// and the vcluster placed again, even if what began it (a silent host)
	// has passed: a control plane left on revoked credentials could never
	// write.
	// +optional
	// +kubebuilder:validation:Minimum=0
	FencingEpoch int64 `json:"fencingEpoch,omitempty"`

	// storeUID names the vcluster's space on its External store (its
	// database, or its etcd prefix) when that is not this object's UID:
	// a vcluster another region of a federation made again after losing
	// its own keeps its first object's space, and so its data.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	StoreUID string `json:"storeUID,omitempty"`

	// operation is the latest failover or migration asked for with the
	// fleet.vfleet.dev/operation annotation (vfleet failover, migrate,
	// drain), and how it went.
	// +optional
	Operation *OperationStatus `json:"operation,omitempty"`

	// reserved is what the hub holds for the vcluster on its host, and
	// what its host namespace's quota is: spec.resources once the host had
	// room for them. A resize takes effect when the host has room for it.
	// +optional
	Reserved *Resources `json:"reserved,omitempty"`

	// reservationReleased is set while the host holds nothing for the
	// vcluster: it sleeps, and its class gives its reservation back
	// (sleep.reservation Release). Its control plane stays stopped until
	// a host has room for it again.
	// +optional
	ReservationReleased bool `json:"reservationReleased,omitempty"`

	// placementHistory lists the latest placements, newest last.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	PlacementHistory []PlacementRecord `json:"placementHistory,omitempty"`

	// gateway is how the region's gateway reaches the vcluster, when the
	// hub names one: the hub publishes the current epoch's address here
	// while its control plane runs, and takes it away when a fence of
	// that epoch begins.
	// +optional
	Gateway *GatewayRoute `json:"gateway,omitempty"`

	// trace is the OpenTelemetry trace of the create or move under way,
	// when the hub records traces. The hub, the agent and the control
	// plane record their parts of the operation under its root span,
	// which the hub records when the operation ends.
	// +optional
	Trace *OperationTrace `json:"trace,omitempty"`

	// sleep says since when, and why, the vcluster sleeps; absent while
	// it is awake.
	// +optional
	Sleep *SleepStatus `json:"sleep,omitempty"`
}

// OperationTrace is the trace of a vcluster's create, failover or
// migration.
type OperationTrace struct {
	// name is the operation: Create, Failover or Migration.
	// +kubebuilder:validation:Enum=Create;Failover;Migration
	Name string `json:"name"`

	// traceparent is the W3C trace context of the operation's root span.
	// +kubebuilder:validation:Pattern=`^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`
	// +kubebuilder:validation:MaxLength=55
	Traceparent string `json:"traceparent"`

	// fromEpoch is the epoch the operation began at; it ends when the
	// vcluster is Ready at a later one.
	// +kubebuilder:validation:Minimum=0
	FromEpoch int64 `json:"fromEpoch"`

	// startTime is when the operation began: the vcluster's creation, the
	// last heartbeat of the host a failover leaves, or when a person
	// asked for the move.
	StartTime metav1.Time `json:"startTime"`
}

// Operations a trace follows.
const (
	TraceCreate    = "Create"
	TraceFailover  = "Failover"
	TraceMigration = "Migration"
)

// AnnotationTraceparent on a ControlPlane is the traceparent of the
// operation that made or moved it (status.trace of its VirtualCluster):
// the agent and the control plane record their parts under it.
const AnnotationTraceparent = "fleet.vfleet.dev/traceparent"

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vc;vcluster;vclusters,categories=vfleet
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Class",type=string,JSONPath=`.spec.className`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.kubernetesVersion`
// +kubebuilder:printcolumn:name="Host",type=string,JSONPath=`.status.host`
// +kubebuilder:printcolumn:name="Epoch",type=integer,JSONPath=`.status.epoch`
// +kubebuilder:printcolumn:name="Store",type=string,JSONPath=`.spec.backingStore.type`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="a vcluster name must be a DNS label of at most 63 characters (lowercase letters, digits and dashes, starting and ending with a letter or digit): it names the vcluster's namespace on its host"

// VirtualCluster is a tenant's Kubernetes cluster: a control plane of its
// own on a host of the fleet, whose pods run on that host's nodes.
type VirtualCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec VirtualClusterSpec `json:"spec"`
	// +optional
	Status VirtualClusterStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// VirtualClusterList is a list of VirtualClusters.
type VirtualClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualCluster `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &VirtualCluster{}, &VirtualClusterList{})
}

// StoreUID is what names the vcluster's space on its store: its first
// VirtualCluster's UID, which status.storeUID keeps for one made again in
// another region, else its own.
func (vc *VirtualCluster) StoreUID() types.UID {
	if vc.Status.StoreUID != "" {
		return types.UID(vc.Status.StoreUID)
	}
	return vc.UID
}
