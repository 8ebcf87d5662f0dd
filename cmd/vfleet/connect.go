package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// tenantKubeconfig reads the vcluster's kubeconfig from the Secret the hub
// issued next to it.
func tenantKubeconfig(ctx context.Context, c client.Client, vc *fleetv1.VirtualCluster) ([]byte, error) {
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: vc.Status.KubeconfigSecret}, secret); err != nil {
		return nil, apiError(err)
	}
	kc := secret.Data[fleetv1.KubeconfigKey]
	if len(kc) == 0 {
		return nil, fmt.Errorf("secret %s has no %q key", secret.Name, fleetv1.KubeconfigKey)
	}
	return kc, nil
}

// renamed gives the kubeconfig's one cluster, user and context the name
// name, so that it merges beside others without clobbering them.
func renamed(cfg *clientcmdapi.Config, name string) *clientcmdapi.Config {
	out := clientcmdapi.NewConfig()
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil {
		for _, c := range cfg.Contexts {
			ctx = c
			break
		}
	}
	if ctx == nil {
		return out
	}
	if c := cfg.Clusters[ctx.Cluster]; c != nil {
		out.Clusters[name] = c
	}
	if u := cfg.AuthInfos[ctx.AuthInfo]; u != nil {
		out.AuthInfos[name] = u
	}
	out.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	out.CurrentContext = name
	return out
}

// mergeKubeconfig adds cfg's entries, all named name, to the user's
// kubeconfig: the first file of KUBECONFIG, else ~/.kube/config.
func mergeKubeconfig(_ target, add *clientcmdapi.Config, name string, switchTo bool) (string, error) {
	path := clientcmd.NewDefaultClientConfigLoadingRules().GetDefaultFilename()
	cfg, err := clientcmd.LoadFromFile(path)
	if os.IsNotExist(err) {
		cfg, err = clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	cfg.Clusters[name] = add.Clusters[name]
	cfg.AuthInfos[name] = add.AuthInfos[name]
	cfg.Contexts[name] = add.Contexts[name]
	if switchTo || cfg.CurrentContext == "" {
		cfg.CurrentContext = name
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	return path, clientcmd.WriteToFile(*cfg, path)
}
