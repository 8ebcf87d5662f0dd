// Package pki issues the certificates and keys a Kubernetes control plane
// needs: certificate authorities, serving and client certificates, and
// service-account signing keys, all as PEM.
package pki
