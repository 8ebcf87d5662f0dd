package virtualcluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// KubeconfigSecretName names the Secret, next to the VirtualCluster, that
// holds the tenant's kubeconfig.
func KubeconfigSecretName(vc *fleetv1.VirtualCluster) string { return vc.Name + "-kubeconfig" }

// observe reads what the host's agent reports of the ControlPlane, once
// it runs issues the tenant's kubeconfig, and records both in o, from
// which the status gets its phase, conditions and endpoint.
func (r *Reconciler) observe(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed) error {
	cp := &fleetv1.ControlPlane{}
	key := client.ObjectKey{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: ControlPlaneName(vc)}
	if err := r.Client.Get(ctx, key, cp); err != nil {
		// Just created: the cache has not seen it yet; its event follows.
		return client.IgnoreNotFound(err)
	}
	report := controlPlaneReport{
		current:  cp.Status.ObservedGeneration == cp.Generation && cp.Status.Epoch == vc.Status.Epoch,
		phase:    cp.Status.Phase,
		endpoint: cp.Status.Endpoint,
		gateway:  r.Gateway,
	}
	if c := meta.FindStatusCondition(cp.Status.Conditions, fleetv1.ConditionReady); c != nil {
		report.message = c.Message
	}
	if report.current && report.phase == fleetv1.ControlPlaneRunning {
		issued, err := r.issueKubeconfig(ctx, vc, cp)
		if err != nil {
			return err
		}
		report.kubeconfigIssued = issued
	}
	silent, err := r.silentFor(ctx, r.Client, vc.Status.Host)
	if err != nil {
		return err
	}
	report.hostSilent = silent
	o.controlPlane = &report
	return nil
}

// issueKubeconfig copies the kubeconfig the agent published into the
// tenant's Secret next to the VirtualCluster, owned by it so that it goes
// with it. It reports false while the agent has not published one.
func (r *Reconciler) issueKubeconfig(ctx context.Context, vc *fleetv1.VirtualCluster, cp *fleetv1.ControlPlane) (bool, error) {
	published := &corev1.Secret{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: cp.Namespace, Name: fleetv1.PublishedKubeconfigSecret(cp.Name)}, published)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	kc := published.Data[fleetv1.KubeconfigKey]
	if len(kc) == 0 || published.Labels[fleetv1.LabelVirtualClusterUID] != string(vc.UID) {
		return false, nil
	}
	kc, err = r.Gateway.throughGateway(vc, kc)
	if err != nil {
		return false, err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: vc.Namespace, Name: KubeconfigSecretName(vc)}}
	_, err = controllerutil.CreateOrUpdate(ctx, r.Client, secret, func() error {
		if secret.ResourceVersion != "" && !metav1.IsControlledBy(secret, vc) {
			return fmt.Errorf("secret %s exists and does not belong to vcluster %s: rename or delete it", secret.Name, vc.Name)
		}
		secret.Labels = map[string]string{
			fleetv1.LabelManagedBy: fleetv1.ManagedByValue, fleetv1.LabelVirtualCluster: vc.Name,
			fleetv1.LabelVirtualClusterUID: string(vc.UID),
		}
		secret.Type = corev1.SecretTypeOpaque
		secret.Data = map[string][]byte{fleetv1.KubeconfigKey: kc}
		return controllerutil.SetControllerReference(vc, secret, r.Client.Scheme())
	})
	return err == nil, err
}
