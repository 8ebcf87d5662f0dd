// Package agent is what runs on each host cluster: it joins the fleet with a
// bootstrap token, heartbeats through a Lease, and reports the host's
// capacity in its HostCluster's status, from narrow caches.
package agent
