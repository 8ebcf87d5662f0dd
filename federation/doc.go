// Package federation joins the regional hubs into one raft group that
// replicates the ledger (federation/ledger): a peer per hub, with durable
// storage and mutual TLS between peers, and the group's operations:
// bootstrap, join, remove and status.
package federation
