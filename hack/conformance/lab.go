package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/lab/images"
)

// The vcluster under test, and its class: the most a class lets a tenant
// do, so that a difference from the host is vfleet's and not a policy's.
// Pod Security stays at Baseline, the least a class enforces.
const (
	vclusterName = "conformance"
	className    = "conformance"
)

// labEnv is a running lab and the kubeconfigs of its two sides.
type labEnv struct {
	lab         *lab.Lab
	kubeconfigs map[string]string
}

func (e *labEnv) stop(ctx context.Context) error { return e.lab.Stop(ctx) }

// startLab starts a lab of one host with only real nodes (untainted, as a
// real cluster's) and a vcluster on it, Ready.
func startLab(ctx context.Context, dir string, realNodes int) (env *labEnv, err error) {
	host := lab.DefaultHosts(1, 0)[0]
	host.RealNodes = realNodes
	host.MoreImages = []string{images.AgnhostPrev, images.GlibcDNSTesting, images.Kitten, images.Nautilus, images.Nonewprivs, images.Nginx, images.NginxNew}
	l, err := lab.New(lab.Config{Dir: dir, Hosts: []lab.HostConfig{host}, Progress: os.Stdout})
	if err != nil {
		return nil, err
	}
	if err := l.Start(ctx); err != nil {
		return nil, err
	}
	env = &labEnv{lab: l, kubeconfigs: map[string]string{"host": l.Hosts()[0].Kubeconfig()}}
	defer func() {
		if err != nil {
			_ = l.Stop(context.WithoutCancel(ctx))
		}
	}()
	cfg, err := kubeconfig.RESTConfig(l.Management().Kubeconfig())
	if err != nil {
		return nil, err
	}
	mgmt, err := client.New(cfg, client.Options{Scheme: apis.Scheme()})
	if err != nil {
		return nil, err
	}
	class := &fleetv1.VirtualClusterClass{ObjectMeta: metav1.ObjectMeta{Name: className}, Spec: fleetv1.VirtualClusterClassSpec{
		Isolation: fleetv1.IsolationPolicy{
			PodSecurity: fleetv1.PodSecurityBaseline, AllowRunAsRoot: true, AllowNodePorts: true, AllowExternalIPs: true,
			AllowedEndpointCIDRs: []string{"0.0.0.0/0"},
		},
	}}
	if err := client.IgnoreAlreadyExists(mgmt.Create(ctx, class)); err != nil {
		return nil, err
	}
	// All of the host but what its control plane takes.
	vc := &fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: vclusterName}}
	vc.Spec.ClassName = className
	vc.Spec.KubernetesVersion = k8sbin.Version
	vc.Spec.Resources = fleetv1.Resources{CPU: resource.MustParse("3"), Memory: resource.MustParse("12Gi"), Pods: 200}
	if err := client.IgnoreAlreadyExists(mgmt.Create(ctx, vc)); err != nil {
		return nil, err
	}
	fmt.Println("conformance: waiting for the vcluster to be Ready")
	if vc, err = waitReady(ctx, mgmt, client.ObjectKeyFromObject(vc)); err != nil {
		return nil, err
	}
	secret := &corev1.Secret{}
	if err := mgmt.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: vc.Status.KubeconfigSecret}, secret); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, vclusterName+".kubeconfig")
	if err := os.WriteFile(path, secret.Data[fleetv1.KubeconfigKey], 0o600); err != nil {
		return nil, err
	}
	env.kubeconfigs["vcluster"] = path
	return env, nil
}

func waitReady(ctx context.Context, c client.Client, key client.ObjectKey) (*fleetv1.VirtualCluster, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	vc := &fleetv1.VirtualCluster{}
	for {
		if err := c.Get(ctx, key, vc); err == nil && meta.IsStatusConditionTrue(vc.Status.Conditions, fleetv1.ConditionReady) && vc.Status.KubeconfigSecret != "" {
			return vc, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("vcluster %s not Ready: %w (its status: %+v)", key, ctx.Err(), vc.Status.Conditions)
		case <-time.After(2 * time.Second):
		}
	}
}
