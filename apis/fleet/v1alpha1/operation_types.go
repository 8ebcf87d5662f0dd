package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// OperationType is a move of a vcluster that a person asked for.
// +kubebuilder:validation:Enum=Failover;Migration
type OperationType string

// Operations.
const (
	// OperationFailover fences the running control plane at once and
	// brings the vcluster up elsewhere, whatever state its host is in.
	OperationFailover OperationType = "Failover"
	// OperationMigration stops the control plane cleanly first.
	OperationMigration OperationType = "Migration"
)

// OperationPhase is how an operation goes.
// +kubebuilder:validation:Enum=InProgress;Succeeded;Failed
type OperationPhase string

// Operation phases.
const (
	OperationInProgress OperationPhase = "InProgress"
	OperationSucceeded  OperationPhase = "Succeeded"
	OperationFailed     OperationPhase = "Failed"
)

// Annotations that ask the hub to move a VirtualCluster. A new
// operation-id starts a new operation; the hub reports in
// status.operation under that id.
const (
	// AnnotationOperation is Failover or Migration.
	AnnotationOperation = "fleet.vfleet.dev/operation"
	// AnnotationOperationID identifies the request.
	AnnotationOperationID = "fleet.vfleet.dev/operation-id"
	// AnnotationOperationTo names the host to move to; absent means any
	// other host that fits.
	AnnotationOperationTo = "fleet.vfleet.dev/operation-to"
	// AnnotationOperationReason is recorded in the placement history
	// (Drain, say); absent means the operation's type.
	AnnotationOperationReason = "fleet.vfleet.dev/operation-reason"
)

// AnnotationRotateIdentity asks the hub to replace a VirtualCluster's
// identity (its CAs, service-account key and admin credentials) with a
// new one; a new value asks again. Every kubeconfig and token issued
// before stops working. `vfleet certs rotate` sets it.
const AnnotationRotateIdentity = "fleet.vfleet.dev/rotate-identity"

// AnnotationTakenOverFrom is set on a VirtualCluster that a region of a
// federation made from the federation's ledger, to the region it came
// from: one that was lost, or one that had no room for it. Until its
// status carries the vcluster's store (status.storeUID), the hub is still
// making it, and places nothing for it.
const AnnotationTakenOverFrom = "fleet.vfleet.dev/taken-over-from"

// AnnotationTakenOverBy is set on a region's VirtualCluster that another
// region took over while this one was lost, to that region: its copy here
// retires. Both annotations are the hub's to write: an admission policy
// refuses them from anyone who may not write a VirtualCluster's status.
const AnnotationTakenOverBy = "fleet.vfleet.dev/taken-over-by"

// OperationStatus is how a requested operation went.
type OperationStatus struct {
	// +required
	ID string `json:"id"`
	// +required
	Type OperationType `json:"type"`
	// to is the host asked for; empty means any.
	// +optional
	To string `json:"to,omitempty"`
	// from is the host the vcluster left.
	// +optional
	From string `json:"from,omitempty"`
	// +required
	Phase OperationPhase `json:"phase"`
	// message says what happens now, or why it failed.
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// Reasons recorded in the placement history.
const (
	PlacementInitial   = "Initial"
	PlacementFailover  = "Failover"
	PlacementMigration = "Migration"
	PlacementDrain     = "Drain"
	// PlacementWake: woken with no room left on its host (its class gave
	// its reservation back while it slept), it moved to a host with room.
	PlacementWake = "Wake"
)

// PlacementRecord is one placement of a vcluster.
type PlacementRecord struct {
	// +required
	Host string `json:"host"`
	// +required
	Epoch int64 `json:"epoch"`
	// +required
	Time metav1.Time `json:"time"`
	// reason is why: Initial, Failover, Migration, Drain, Wake.
	// +optional
	Reason string `json:"reason,omitempty"`
}
