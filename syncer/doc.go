// Package syncer makes a vcluster more than an API server: it copies the
// tenant's workloads into the vcluster's namespace on its host, where the
// host schedules and runs them, and copies back what the host knows. One
// generic controller holds the plumbing; each synced kind is a small package
// under syncer/resources.
package syncer
