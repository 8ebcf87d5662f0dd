// Package gateway is a region's one endpoint for every vcluster: it routes
// each TLS connection by its server name (SNI) to the vcluster's current
// control plane, passing the TLS through, so it holds no tenant credential.
// The hub publishes the routes in VirtualCluster status; during a move the
// gateway holds new connections until the new epoch can be reached.
package gateway
