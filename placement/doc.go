// Package placement decides which host runs a virtual cluster: filter and
// score plugins over an in-memory snapshot of the fleet, with a reservation
// ledger so that concurrent decisions never overcommit a host.
package placement
