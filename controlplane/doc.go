// Package controlplane is what runs for one vcluster on its host: its PKI,
// its store (kine embedded as its etcd, over SQLite or PostgreSQL, or an
// external etcd the apiserver reaches directly under the vcluster's
// prefix), and kube-apiserver and kube-controller-manager as supervised
// child processes (no scheduler: the host schedules).
package controlplane
