package v1alpha1

// Condition types and reasons of every kind, in one place: the hub, the
// agent and the CLI write and read them, and a reason is part of the API a
// user scripts against.

// Condition types shared by the kinds.
const (
	// ConditionReady is the summary: the object does its job.
	ConditionReady = "Ready"
)

// HostCluster condition types and reasons.
const (
	// ConditionSchedulable is True when placement may put new virtual
	// clusters on the host.
	ConditionSchedulable = "Schedulable"

	ReasonHeartbeating   = "AgentHeartbeating"
	ReasonLeaseExpired   = "AgentLeaseExpired"
	ReasonNeverConnected = "AgentNeverConnected"
	ReasonCordoned       = "Cordoned"
	// ReasonUnreachable is a host whose agent is silent, or a BackingStore
	// that does not answer.
	ReasonUnreachable   = "Unreachable"
	ReasonAcceptingWork = "AcceptingVirtualClusters"

	// TaintUnreachable is on a host while its agent is silent.
	TaintUnreachable = "vfleet.dev/unreachable"
)

// VirtualCluster condition types.
const (
	// ConditionScheduled says whether placement found the vcluster a host.
	ConditionScheduled = "Scheduled"
	// ConditionProvisioned says whether the chosen host runs its control
	// plane.
	ConditionProvisioned = "Provisioned"
	// ConditionFailover says whether the vcluster can come back on another
	// host, and what happens now if it is moving.
	ConditionFailover = "Failover"
	// ConditionAdmitted says whether the vcluster's spec is within its
	// VirtualClusterClass.
	ConditionAdmitted = "Admitted"
	// ConditionResourcesReserved says whether its host holds the
	// resources the spec asks for, after a resize as well.
	ConditionResourcesReserved = "ResourcesReserved"
)

// VirtualCluster reasons of ResourcesReserved.
const (
	ReasonReserved             = "Reserved"
	ReasonInsufficientCapacity = "InsufficientCapacity"
	// ReasonReleasedWhileAsleep: the vcluster sleeps, and its class gave
	// its reservation back.
	ReasonReleasedWhileAsleep = "ReleasedWhileAsleep"
)

// VirtualCluster reasons of its class (Admitted, and Scheduled while it
// keeps the vcluster from being placed).
const (
	ReasonWithinClass      = "WithinClass"
	ReasonClassNotFound    = "ClassNotFound"
	ReasonForbiddenByClass = "ForbiddenByClass"
)

// VirtualCluster reasons of placement (Scheduled).
const (
	ReasonPlaced           = "Placed"
	ReasonUnschedulable    = "Unschedulable"
	ReasonInvalidPlacement = "InvalidPlacement"
)

// VirtualCluster reasons of its life after placement (Provisioned, Ready).
const (
	ReasonWaitingForAgent      = "WaitingForAgent"
	ReasonControlPlaneStarting = "ControlPlaneStarting"
	ReasonControlPlaneRunning  = "ControlPlaneRunning"
	ReasonControlPlaneFailed   = "ControlPlaneFailed"
	// ReasonSleeping is a vcluster, or its ControlPlane, asked to sleep.
	ReasonSleeping = "Sleeping"
	// ReasonWaking is a sleeping vcluster a request woke.
	ReasonWaking             = "Waking"
	ReasonNotScheduled       = "NotScheduled"
	ReasonKubeconfigIssued   = "KubeconfigIssued"
	ReasonProvisioningFailed = "ProvisioningFailed"
	ReasonHostUnreachable    = "HostUnreachable"
	// ReasonDeleting is a vcluster waiting for its hosts to stop it.
	ReasonDeleting = "Deleting"
	// ReasonIdentityRotated is the event of a vcluster given a new
	// identity, as asked (AnnotationRotateIdentity).
	ReasonIdentityRotated = "IdentityRotated"
)

// VirtualCluster reasons of failover (Failover).
const (
	ReasonProtected            = "Protected"
	ReasonManualFailover       = "ManualFailover"
	ReasonEmbeddedStore        = "EmbeddedStore"
	ReasonFailingOver          = "FailingOver"
	ReasonFenceFailed          = "FenceFailed"
	ReasonFenced               = "Fenced"
	ReasonFailedOver           = "FailedOver"
	ReasonMigrated             = "Migrated"
	ReasonStoppingForMigration = "StoppingForMigration"
	ReasonOperationRejected    = "OperationRejected"
)

// VirtualCluster reasons of a federation's ledger (Scheduled, Failover).
const (
	// ReasonFederationUnavailable: the hub cannot commit to the
	// federation's ledger (no quorum of hubs reaches it), so it neither
	// places nor moves the vcluster; what runs keeps running.
	ReasonFederationUnavailable = "FederationUnavailable"
	// ReasonFederationRefused: the ledger refused the step, most often
	// because another region's hub moved the vcluster first.
	ReasonFederationRefused = "FederationRefused"
	// ReasonTakenOver: another region took the vcluster over while this
	// one was lost; this region's copy is retired.
	ReasonTakenOver = "TakenOver"
	// ReasonSpilled: no host of this region had room, and another region
	// of the federation runs the vcluster.
	ReasonSpilled = "SpilledToRegion"
)

// ControlPlane reasons of its Ready condition, written by the agent.
const (
	ReasonRunning  = "Running"
	ReasonStarting = "Starting"
	// ReasonWaitingToStart: the host starts a few control planes at once,
	// and others asked before this one.
	ReasonWaitingToStart      = "WaitingToStart"
	ReasonStartFailed         = "StartFailed"
	ReasonHostNamespaceFailed = "HostNamespaceFailed"
	ReasonStoreNotReady       = "StoreNotReady"
	ReasonIdentityNotReady    = "IdentityNotReady"
)

// BackingStore reasons of its Ready condition.
const (
	ReasonReachable            = "Reachable"
	ReasonCredentialsMissing   = "CredentialsMissing"
	ReasonAuthenticationFailed = "AuthenticationFailed"
	// ReasonAuthDisabled is an etcd server without auth: no epoch could
	// be fenced on it.
	ReasonAuthDisabled = "AuthDisabled"
	ReasonError        = "Error"
)
