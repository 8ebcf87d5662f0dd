// Package controlplane is what runs for one vcluster on its host: its PKI,
// kine embedded as its etcd, and kube-apiserver and kube-controller-manager
// as supervised child processes (no scheduler: the host schedules).
package controlplane
