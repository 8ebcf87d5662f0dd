package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// SleepStatus says since when, and why, a vcluster sleeps: its control
// plane stopped, its host pods removed, its objects and store kept.
type SleepStatus struct {
	// since is when its control plane stopped.
	Since metav1.Time `json:"since"`

	// reason is why it sleeps: Asked (spec.sleep.sleeping, vfleet sleep;
	// it sleeps until asked to wake) or Inactive (no request through the
	// gateway for spec.sleep.afterInactivity; a request wakes it).
	// +kubebuilder:validation:Enum=Asked;Inactive
	Reason SleepReason `json:"reason"`
}

// SleepReason is why a vcluster sleeps.
type SleepReason string

// Why a vcluster sleeps.
const (
	// SleepAsked: spec.sleep.sleeping; it sleeps until asked to wake.
	SleepAsked SleepReason = "Asked"
	// SleepInactive: no request reached it for spec.sleep.afterInactivity.
	SleepInactive SleepReason = "Inactive"
)

// ClassSleepPolicy is what a class's vclusters keep while they sleep.
type ClassSleepPolicy struct {
	// reservation is what becomes of a sleeping vcluster's share of its
	// host. Keep (the default) holds it, so a wake always has room where
	// the vcluster was. Release gives it back once the control plane has
	// stopped, for other vclusters to use; a wake reserves it again, on
	// the same host when it has room, else, for an External vcluster, by
	// a migration to a host that has. An Embedded vcluster, whose state
	// is on its host, waits there for room, and says so.
	// +optional
	// +kubebuilder:default=Keep
	Reservation SleepReservation `json:"reservation,omitempty"`
}

// SleepReservation is what becomes of a sleeping vcluster's reservation.
// +kubebuilder:validation:Enum=Keep;Release
type SleepReservation string

// What a sleeping vcluster's host holds for it.
const (
	// ReservationKeep: the host keeps holding it.
	ReservationKeep SleepReservation = "Keep"
	// ReservationRelease: the host holds nothing for it while it sleeps.
	ReservationRelease SleepReservation = "Release"
)

// AnnotationWake on a VirtualCluster asks the hub to wake it from a sleep
// for inactivity: an RFC 3339 time after the sleep began (`vfleet wake`
// sets it to now). A sleep the tenant asked for ends with
// spec.sleep.sleeping false instead.
const AnnotationWake = "fleet.vfleet.dev/wake"

// LabelActivity marks the Leases through which a region's gateway says
// when each vcluster was last used: one per vcluster, in the hub's
// namespace, renewed while requests reach it, and at once when a request
// waits for it to wake.
const LabelActivity = "fleet.vfleet.dev/activity"

// ActivityLeaseName names the activity Lease of the vcluster uid.
func ActivityLeaseName(uid types.UID) string { return "activity-" + string(uid) }
