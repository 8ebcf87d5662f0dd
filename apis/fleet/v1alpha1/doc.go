// Package v1alpha1 is the fleet.vfleet.dev/v1alpha1 API: host clusters,
// virtual clusters, the control planes the hub asks hosts to run, and the
// external stores that back them.
// +kubebuilder:object:generate=true
// +groupName=fleet.vfleet.dev
package v1alpha1
