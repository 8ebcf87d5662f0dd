// Package hub assembles the hub: a leader-elected controller-runtime
// manager over the management cluster, its controllers, and the join
// endpoint agents call with a bootstrap token.
package hub
