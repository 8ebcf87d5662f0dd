// Package k8sbin says which Kubernetes the lab and the tests run and where
// its binaries (etcd, kube-apiserver, ...) are, as make binaries builds them.
package k8sbin
