package virtualcluster

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/federation/ledger"
)

// EpochLedger is the federation's record of every vcluster's epochs
// (federation/ledger), which the regions' hubs agree on through raft. A
// hub of a federation commits each step there before it acts on it: a
// new epoch, and the fence of the old one. The ledger lets only one hub
// move a vcluster from an epoch, and none from an epoch not yet fenced,
// so that no two control planes of a vcluster hold live credentials, even
// with the hubs cut off from each other; a hub that cannot reach a
// quorum commits nothing, and so places and fails over nothing, while
// what runs keeps running.
type EpochLedger interface {
	// Advance commits vc's move from epoch from to from+1, on host. It is
	// done, not refused, if that very move was committed already.
	Advance(ctx context.Context, vc *fleetv1.VirtualCluster, from int64, host string) error
	// Fenced commits that vc's epochs up to epoch are fenced on its store.
	Fenced(ctx context.Context, vc *fleetv1.VirtualCluster, epoch int64) error
	// Forget drops a deleted vc from the ledger.
	Forget(ctx context.Context, vc *fleetv1.VirtualCluster) error
	// Elsewhere is the region the ledger has vc in, when that is not this
	// hub's: another region took it over, or runs it for want of room
	// here. A vcluster of the same name another region made is not vc.
	Elsewhere(vc *fleetv1.VirtualCluster) (region string, elsewhere bool)
	// Spill hands vc, which no host of this region has room for, to
	// another region of the federation that has, and its placement
	// allows; "" when none has.
	Spill(ctx context.Context, vc *fleetv1.VirtualCluster) (region string, err error)
	// Stale reports whether vc is this region's again, claimed back from
	// another, at a later epoch or fence than its status says: the
	// takeover rewrites it next.
	Stale(vc *fleetv1.VirtualCluster) bool
}

// beingTakenOver reports whether vc is a federation's takeover that its
// maker has not given its status yet.
func beingTakenOver(vc *fleetv1.VirtualCluster) bool {
	_, taken := vc.Annotations[fleetv1.AnnotationTakenOverFrom]
	return taken && vc.Status.StoreUID == "" && vc.DeletionTimestamp.IsZero()
}

// ledgerReason is the condition reason of an error from the ledger: a
// refusal, which the ledger will repeat until the vcluster's record
// changes, or an unreachable federation.
func ledgerReason(err error) string {
	if errors.Is(err, ledger.ErrRefused) {
		return fleetv1.ReasonFederationRefused
	}
	return fleetv1.ReasonFederationUnavailable
}

// advance commits a move to the next epoch in the ledger, if the hub has
// one; the error says what waits, for the status.
func (r *Reconciler) advance(ctx context.Context, vc *fleetv1.VirtualCluster, host string) error {
	if r.Ledger == nil {
		return nil
	}
	if err := r.Ledger.Advance(ctx, vc, vc.Status.Epoch, host); err != nil {
		return fmt.Errorf("epoch %d on host %s waits for the federation to commit it: %w", vc.Status.Epoch+1, host, err)
	}
	return nil
}

// fenced commits a fence in the ledger, if the hub has one.
func (r *Reconciler) fenced(ctx context.Context, vc *fleetv1.VirtualCluster, epoch int64) error {
	if r.Ledger == nil {
		return nil
	}
	if err := r.Ledger.Fenced(ctx, vc, epoch); err != nil {
		return fmt.Errorf("epoch %d is fenced on the store, and waits for the federation to record it: %w", epoch, err)
	}
	return nil
}

// runsElsewhere reports whether another region runs vc: it took it over
// while this one was lost, or this one had no room. If so, it retires
// what runs of it here: every ControlPlane goes, so that the agents stop
// them, and its store is left to the region that runs it.
func (r *Reconciler) runsElsewhere(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed) (bool, error) {
	region, elsewhere := r.elsewhere(vc)
	if !elsewhere {
		return false, nil
	}
	o.elsewhere = &elsewhereStatus{region: region, spilled: vc.Status.Epoch == 0}
	_, err := r.deleteControlPlanes(ctx, vc)
	return true, err
}

// spill hands vc to another region when no host here fits it, if the hub
// is one of a federation's; it reports whether it did.
func (r *Reconciler) spill(ctx context.Context, vc *fleetv1.VirtualCluster, o *observed) bool {
	if r.Ledger == nil {
		return false
	}
	region, err := r.Ledger.Spill(ctx, vc)
	if err != nil {
		ctrl.LoggerFrom(ctx).Info("Could not hand the vcluster to another region", "virtualCluster", klog.KObj(vc), "error", err.Error())
		return false
	}
	if region == "" {
		return false
	}
	ctrl.LoggerFrom(ctx).Info("No host of this region has room: another region runs the vcluster", "virtualCluster", klog.KObj(vc), "region", region)
	o.elsewhere = &elsewhereStatus{region: region, spilled: true}
	return true
}

// elsewhere is the region that runs vc instead of this one, if any.
func (r *Reconciler) elsewhere(vc *fleetv1.VirtualCluster) (string, bool) {
	if r.Ledger == nil {
		return "", false
	}
	return r.Ledger.Elsewhere(vc)
}
