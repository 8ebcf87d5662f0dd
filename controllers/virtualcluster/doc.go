// Package virtualcluster runs a VirtualCluster's life on the hub: placement
// on a host (status.host, status.epoch), the ControlPlane object in that
// host's namespace, and cleanup on deletion.
package virtualcluster
