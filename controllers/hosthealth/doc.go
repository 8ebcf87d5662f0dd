// Package hosthealth keeps each HostCluster's Ready and Schedulable
// conditions and its unreachable taint in step with its agent's heartbeat
// Lease, requeueing at the moment the Lease would expire.
package hosthealth
