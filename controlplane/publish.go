package controlplane

import (
	"context"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// Publish writes the admin kubeconfig, with server as its address, into
// the Secret namespace/name of the cluster the control plane runs in: how
// a control plane in a pod hands its kubeconfig to the agent, which cannot
// read the pod's disk. The Secret exists (the agent creates it); only its
// data changes. It retries until ctx ends.
func (cp *ControlPlane) Publish(ctx context.Context, host *rest.Config, namespace, name, server string) error {
	data, err := os.ReadFile(cp.Kubeconfig())
	if err != nil {
		return err
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return err
	}
	for _, c := range cfg.Clusters {
		c.Server = server
	}
	if data, err = clientcmd.Write(*cfg); err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(host)
	if err != nil {
		return err
	}
	for {
		err = publishOnce(ctx, kube, namespace, name, data)
		if err == nil {
			fmt.Fprintf(cp.cfg.Log, "control plane %s: kubeconfig published in secret %s/%s\n", cp.cfg.Name, namespace, name)
			return nil
		}
		fmt.Fprintf(cp.cfg.Log, "control plane %s: publish kubeconfig: %v\n", cp.cfg.Name, err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
}

func publishOnce(ctx context.Context, kube kubernetes.Interface, namespace, name string, data []byte) error {
	secret, err := kube.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if string(secret.Data[fleetv1.KubeconfigKey]) == string(data) {
		return nil
	}
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	secret.Data[fleetv1.KubeconfigKey] = data
	_, err = kube.CoreV1().Secrets(namespace).Update(ctx, secret, metav1.UpdateOptions{})
	return err
}
