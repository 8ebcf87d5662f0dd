package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// SleepStatus says since when, and why, a vcluster sleeps: its control
// plane stopped, its host pods removed, its objects and store kept.
type SleepStatus struct {
	// since is when its control plane stopped.
	Since metav1.Time `json:"since"`

	// reason is why it sleeps: Asked (spec.sleep.sleeping, vfleet sleep).
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
