package virtualcluster

import (
	"context"
	"fmt"
	"time"

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

// observe carries the ControlPlane's state up into the VirtualCluster: the
// phase, the conditions, and once it runs, the endpoint and the tenant's
// kubeconfig.
func (r *Reconciler) observe(ctx context.Context, vc *fleetv1.VirtualCluster) error {
	cp := &fleetv1.ControlPlane{}
	key := client.ObjectKey{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: ControlPlaneName(vc)}
	if err := r.Client.Get(ctx, key, cp); err != nil {
		// Just created: the cache has not seen it yet; its event follows.
		return client.IgnoreNotFound(err)
	}
	before := vc.DeepCopy()
	vc.Status.ObservedGeneration = vc.Generation
	provisioned := metav1.Condition{Type: fleetv1.ConditionProvisioned, Status: metav1.ConditionFalse, ObservedGeneration: vc.Generation}
	ready := metav1.Condition{Type: fleetv1.ConditionReady, Status: metav1.ConditionFalse, ObservedGeneration: vc.Generation}
	cpReady := meta.FindStatusCondition(cp.Status.Conditions, fleetv1.ConditionReady)
	message := ""
	if cpReady != nil {
		message = cpReady.Message
	}
	current := cp.Status.ObservedGeneration == cp.Generation && cp.Status.Epoch == vc.Status.Epoch

	switch {
	case !current || cp.Status.Phase == "":
		vc.Status.Phase = fleetv1.PhaseScheduled
		provisioned.Reason = fleetv1.ReasonWaitingForAgent
		provisioned.Message = fmt.Sprintf("waiting for the agent of host %s to take up epoch %d", vc.Status.Host, vc.Status.Epoch)
	case cp.Status.Phase == fleetv1.ControlPlaneFailed:
		vc.Status.Phase = fleetv1.PhaseFailed
		provisioned.Reason = fleetv1.ReasonControlPlaneFailed
		provisioned.Message = fmt.Sprintf("the control plane on host %s failed to start: %s", vc.Status.Host, message)
	case cp.Status.Phase == fleetv1.ControlPlaneSleeping:
		vc.Status.Phase = fleetv1.PhaseSleeping
		provisioned.Reason, provisioned.Message = fleetv1.ReasonSleeping, message
	case cp.Status.Phase == fleetv1.ControlPlaneRunning:
		provisioned.Status, provisioned.Reason = metav1.ConditionTrue, fleetv1.ReasonControlPlaneRunning
		provisioned.Message = fmt.Sprintf("the control plane runs on host %s at %s", vc.Status.Host, cp.Status.Endpoint)
		issued, err := r.issueKubeconfig(ctx, vc, cp)
		if err != nil {
			return err
		}
		vc.Status.Endpoint = cp.Status.Endpoint
		if issued {
			vc.Status.Phase = fleetv1.PhaseReady
			vc.Status.KubeconfigSecret = KubeconfigSecretName(vc)
			ready.Status, ready.Reason = metav1.ConditionTrue, fleetv1.ReasonKubeconfigIssued
			ready.Message = fmt.Sprintf("kubeconfig in Secret %s, key %s", vc.Status.KubeconfigSecret, fleetv1.KubeconfigKey)
		} else {
			vc.Status.Phase = fleetv1.PhaseProvisioning
		}
	default:
		vc.Status.Phase = fleetv1.PhaseProvisioning
		provisioned.Reason = fleetv1.ReasonControlPlaneStarting
		provisioned.Message = fmt.Sprintf("the control plane is starting on host %s: %s", vc.Status.Host, message)
	}
	if ready.Reason == "" {
		ready.Reason, ready.Message = provisioned.Reason, provisioned.Message
	}
	silent, err := r.silentFor(ctx, vc.Status.Host)
	if err != nil {
		return err
	}
	if silent > 0 {
		// What the agent last reported is stale.
		ready.Status, ready.Reason = metav1.ConditionFalse, fleetv1.ReasonHostUnreachable
		ready.Message = fmt.Sprintf("host %s has not renewed its Lease for %s", vc.Status.Host, silent.Round(time.Second))
		if vc.Status.Phase == fleetv1.PhaseReady {
			vc.Status.Phase = fleetv1.PhaseProvisioning
		}
	}
	wasFailed := before.Status.Phase == fleetv1.PhaseFailed
	meta.SetStatusCondition(&vc.Status.Conditions, provisioned)
	meta.SetStatusCondition(&vc.Status.Conditions, ready)
	completed := r.completeOperation(vc)
	// Until an External vcluster that moved is Ready again, the Failover
	// condition tells the move; otherwise it says what a loss would do.
	external := vc.Spec.BackingStore.Type == fleetv1.BackingStoreExternal
	moving := external && vc.Status.Phase != fleetv1.PhaseReady && meta.FindStatusCondition(vc.Status.Conditions, fleetv1.ConditionFailover) != nil
	if !moving {
		fc := failoverCondition(vc)
		if silent > 0 && !external {
			fc.Message = ready.Message + "; " + fc.Message
		}
		meta.SetStatusCondition(&vc.Status.Conditions, fc)
	}
	if err := r.Client.Status().Patch(ctx, vc, client.MergeFrom(before)); err != nil {
		return err
	}
	switch {
	case vc.Status.Phase == fleetv1.PhaseFailed && !wasFailed:
		r.eventf(vc, corev1.EventTypeWarning, fleetv1.ReasonControlPlaneFailed, "Provision", "%s", provisioned.Message)
	case vc.Status.Phase == fleetv1.PhaseReady && before.Status.Phase != fleetv1.PhaseReady:
		r.eventf(vc, corev1.EventTypeNormal, "Ready", "Provision", "ready at %s; %s", vc.Status.Endpoint, ready.Message)
	}
	if completed != "" {
		r.eventf(vc, corev1.EventTypeNormal, completed, string(vc.Status.Operation.Type), "%s", vc.Status.Operation.Message)
	}
	return nil
}

// completeOperation marks the operation in progress done once the vcluster
// is Ready on its new host, and returns the event reason to tell it with.
func (r *Reconciler) completeOperation(vc *fleetv1.VirtualCluster) string {
	op := vc.Status.Operation
	if op == nil || op.Phase != fleetv1.OperationInProgress || op.From == vc.Status.Host || vc.Status.Phase != fleetv1.PhaseReady {
		return ""
	}
	now := r.Clock.Now()
	op.Phase, op.CompletionTime = fleetv1.OperationSucceeded, ptrTime(now)
	took := ""
	if op.StartTime != nil {
		took = " in " + now.Sub(op.StartTime.Time).Round(100*time.Millisecond).String()
	}
	op.Message = fmt.Sprintf("moved from host %s to host %s at epoch %d%s", op.From, vc.Status.Host, vc.Status.Epoch, took)
	if op.Type == fleetv1.OperationMigration {
		return fleetv1.ReasonMigrated
	}
	return fleetv1.ReasonFailedOver
}

// setProvisioningFailed says in the Provisioned condition why the
// vcluster's ControlPlane could not be made (its store could not be
// provisioned, say); the reconcile is retried with backoff meanwhile.
func (r *Reconciler) setProvisioningFailed(ctx context.Context, vc *fleetv1.VirtualCluster, cause error) error {
	prev := meta.FindStatusCondition(vc.Status.Conditions, fleetv1.ConditionProvisioned)
	if prev != nil && prev.Reason == fleetv1.ReasonProvisioningFailed && prev.Message == cause.Error() {
		return nil
	}
	before := vc.DeepCopy()
	meta.SetStatusCondition(&vc.Status.Conditions, metav1.Condition{
		Type: fleetv1.ConditionProvisioned, Status: metav1.ConditionFalse, Reason: fleetv1.ReasonProvisioningFailed,
		Message: cause.Error(), ObservedGeneration: vc.Generation,
	})
	if err := r.Client.Status().Patch(ctx, vc, client.MergeFrom(before)); err != nil {
		return err
	}
	r.eventf(vc, corev1.EventTypeWarning, fleetv1.ReasonProvisioningFailed, "Provision", "%s", cause.Error())
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
