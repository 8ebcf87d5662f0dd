// Package lab runs a vfleet fleet on one machine from real Kubernetes
// processes: a management cluster and host clusters whose kwok nodes carry
// real allocatable capacity. Tests, demos and `vfleet lab` use it.
package lab
