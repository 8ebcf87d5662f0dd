// Package join is how a host joins the fleet: the hub serves a join
// endpoint that trades a bootstrap token for credentials scoped to the
// host's own namespace, and the agent calls it.
package join
