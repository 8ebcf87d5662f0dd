// Package ledger is the federation's replicated record: every region's
// hosts with their health and capacity, and every vcluster's home region,
// owner host, epoch, fenced epoch and store. It changes only by commands
// applied in raft log order, so every hub that applied index N holds the
// same ledger, and an epoch bump is a committed entry before any control
// plane of that epoch starts.
package ledger
