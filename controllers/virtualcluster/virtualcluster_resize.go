package virtualcluster

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/placement"
)

// reserve makes the host hold what the spec asks for. A placed vcluster
// whose resources changed goes through the same capacity check as a new
// one: until its host has room, it keeps what it has, and its
// ResourcesReserved condition says why. What the host holds is recorded in
// status.reserved, at once and with the optimistic lock, since the ledger
// is rebuilt from it when the hub restarts and the ControlPlane's quota is
// made from it.
func (r *Reconciler) reserve(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed, class fleetv1.VirtualClusterClassSpec) error {
	if settled, err := r.reserveAcrossSleep(ctx, vc, o, class); settled || err != nil {
		return err
	}
	reserved := vc.Status.Reserved
	if reserved != nil && equality.Semantic.DeepEqual(*reserved, vc.Spec.Resources) {
		o.reservation = &reservation{held: true}
		return nil
	}
	if reserved != nil {
		req, err := r.requestFor(ctx, vc)
		if err != nil {
			return err
		}
		var refused *placement.ResizeRefused
		switch err := r.Engine.Resize(req, vc.Status.Host); {
		case errors.As(err, &refused):
			o.reservation = &reservation{message: fmt.Sprintf("%s; the vcluster keeps cpu %s, memory %s and %d pods until the host has room",
				refused.Error(), reserved.CPU.String(), reserved.Memory.String(), reserved.Pods)}
			// Woken, as a vcluster that fits nowhere, when the fleet changes.
			r.setPending(client.ObjectKeyFromObject(vc), true)
			return nil
		case err != nil:
			return err
		}
	}
	// One placed before the hub recorded what it holds adopts its spec,
	// which the ledger has held since.
	status := *vc.Status.DeepCopy()
	status.Reserved = vc.Spec.Resources.DeepCopy()
	if err := r.writeDecision(ctx, vc, status); err != nil {
		return err
	}
	if reserved != nil {
		ctrl.LoggerFrom(ctx).Info("Resized", "virtualCluster", klog.KObj(vc), "host", vc.Status.Host)
		r.eventf(vc, corev1.EventTypeNormal, fleetv1.ReasonReserved, "Resize", "host %s holds cpu %s, memory %s and %d pods",
			vc.Status.Host, vc.Spec.Resources.CPU.String(), vc.Spec.Resources.Memory.String(), vc.Spec.Resources.Pods)
	}
	o.reservation = &reservation{held: true}
	return nil
}

// reservedResources are what the host holds for vc: its quota there.
func reservedResources(vc *fleetv1.VirtualCluster) fleetv1.Resources {
	if vc.Status.Reserved != nil {
		return *vc.Status.Reserved
	}
	return vc.Spec.Resources
}
