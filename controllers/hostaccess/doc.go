// Package hostaccess gives each host's agent exactly the access it needs on
// the management cluster: a namespace of its own, a ServiceAccount, RBAC on
// that namespace and on its own HostCluster's status, and nothing
// cluster-wide. Deleting the HostCluster revokes all of it.
package hostaccess
