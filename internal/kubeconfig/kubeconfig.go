// Package kubeconfig writes kubeconfig files for client-certificate
// identities, with the certificates embedded so each file stands alone.
package kubeconfig

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
)

// Identity is a user authenticated by a client certificate.
type Identity struct {
	// Cluster names the cluster and the context in the file.
	Cluster string
	// Server is the API server URL, for example https://127.0.0.1:6443.
	Server string
	CAPEM  []byte
	// User names the user entry in the file.
	User    string
	CertPEM []byte
	KeyPEM  []byte
}

// Config returns the kubeconfig for id.
func Config(id Identity) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[id.Cluster] = &clientcmdapi.Cluster{Server: id.Server, CertificateAuthorityData: id.CAPEM}
	cfg.AuthInfos[id.User] = &clientcmdapi.AuthInfo{ClientCertificateData: id.CertPEM, ClientKeyData: id.KeyPEM}
	cfg.Contexts[id.Cluster] = &clientcmdapi.Context{Cluster: id.Cluster, AuthInfo: id.User}
	cfg.CurrentContext = id.Cluster
	return cfg
}

// Write writes the kubeconfig for id to path, readable by its owner only: it
// holds a private key.
func Write(path string, id Identity) error {
	if err := clientcmd.WriteToFile(*Config(id), path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// RESTConfig loads a rest.Config from the kubeconfig at path.
func RESTConfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// Load returns the configuration in the kubeconfig at path or, with an
// empty path, the usual fallbacks: $KUBECONFIG, in-cluster, ~/.kube/config.
func Load(path string) (*rest.Config, error) {
	if path != "" {
		return RESTConfig(path)
	}
	return ctrlconfig.GetConfig()
}
