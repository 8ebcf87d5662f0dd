package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/federation/ledger"
)

// Proposer commits commands to the ledger and reads it: a Peer, or a
// ledger.Local.
type Proposer interface {
	Propose(ctx context.Context, c ledger.Command) (int64, error)
	// Ledger is the ledger as this proposer has applied it.
	Ledger() *ledger.State
}

var (
	_ Proposer = (*Peer)(nil)
	_ Proposer = (*ledger.Local)(nil)
)

// Epochs keeps a region's vclusters' epochs in the federation's ledger:
// the hub's virtualcluster controller commits each move and fence
// through it before it acts on it.
type Epochs struct {
	Region   string
	Proposer Proposer
	// Report proposes the region's hosts now, for a host placed on before
	// the periodic report named it; nil does not.
	Report func(context.Context) error
	// LiveWithin is how recently a region must have reported for a
	// vcluster to be handed to it (Spill); Now tells the time (nil: the
	// machine's).
	LiveWithin time.Duration
	Now        func() time.Time
}

func ledgerKey(vc *fleetv1.VirtualCluster) string { return vc.Namespace + "/" + vc.Name }

// Advance homes vc in the ledger, records a fence the vcluster's status
// holds and the ledger does not (a fence from before the federation),
// and commits the move.
func (l *Epochs) Advance(ctx context.Context, vc *fleetv1.VirtualCluster, from int64, host string) error {
	p := l.Proposer
	rec, err := l.home(ctx, p, vc)
	if err != nil {
		return err
	}
	if from > 0 && rec.FencedEpoch < from && vc.Status.FencedEpoch >= from {
		if _, err := p.Propose(ctx, ledger.Command{Op: ledger.OpFence, Key: rec.Key, Epoch: from}); err != nil {
			return err
		}
	}
	bump := ledger.Command{Op: ledger.OpBumpEpoch, Key: rec.Key, From: from, Host: host}
	_, err = p.Propose(ctx, bump)
	if errors.Is(err, ledger.ErrUnknownHost) && l.Report != nil {
		// A host that joined since the last report.
		if err := l.Report(ctx); err != nil {
			return err
		}
		_, err = p.Propose(ctx, bump)
	}
	return err
}

// Fenced homes vc in the ledger and records the fence.
func (l *Epochs) Fenced(ctx context.Context, vc *fleetv1.VirtualCluster, epoch int64) error {
	p := l.Proposer
	rec, err := l.home(ctx, p, vc)
	if err != nil {
		return err
	}
	_, err = p.Propose(ctx, ledger.Command{Op: ledger.OpFence, Key: rec.Key, Epoch: epoch})
	return err
}

// Forget drops vc, if the ledger has it as this region's. One another
// region took over stays: its hub owns it now.
func (l *Epochs) Forget(ctx context.Context, vc *fleetv1.VirtualCluster) error {
	p := l.Proposer
	rec, ok := p.Ledger().VClusters[ledgerKey(vc)]
	if !ok || rec.Region != l.Region {
		return nil
	}
	_, err := p.Propose(ctx, ledger.Command{Op: ledger.OpForget, Key: rec.Key})
	return err
}

// home records vc in the ledger as this region's, with its spec, unless
// this peer's copy of the ledger has it so already, and returns its
// record. A vcluster
// that ran before the federation knew it is homed at its epoch and host.
func (l *Epochs) home(ctx context.Context, p Proposer, vc *fleetv1.VirtualCluster) (ledger.VCluster, error) {
	key := ledgerKey(vc)
	store := vc.Spec.BackingStore.Name
	spec, err := json.Marshal(vc.Spec)
	if err != nil {
		return ledger.VCluster{}, err
	}
	if rec, ok := p.Ledger().VClusters[key]; ok && rec.Region == l.Region && rec.Store == store && bytes.Equal(rec.Spec, spec) {
		return rec, nil
	}
	cmd := ledger.Command{Op: ledger.OpHome, Key: key, Home: l.Region, Store: store, Spec: spec, UID: string(vc.StoreUID())}
	if vc.Status.Epoch > 0 && vc.Status.Host != "" {
		cmd.Epoch, cmd.Host = vc.Status.Epoch, vc.Status.Host
	}
	if _, err := p.Propose(ctx, cmd); err != nil {
		return ledger.VCluster{}, err
	}
	rec, ok := p.Ledger().VClusters[key]
	if !ok {
		// Committed, and not yet applied here (a follower): what the
		// command made is what the ledger holds.
		return ledger.VCluster{}, fmt.Errorf("vcluster %s: homed in the federation, not yet applied by this hub", key)
	}
	return rec, nil
}

// Elsewhere is the region the ledger has vc in, as this hub's peer has
// applied it, when that is not this region and the record is vc's own
// (its store UID): one of the same name another region made is not.
func (l *Epochs) Elsewhere(vc *fleetv1.VirtualCluster) (string, bool) {
	rec, ok := l.Proposer.Ledger().VClusters[ledgerKey(vc)]
	if !ok || rec.Region == l.Region || rec.UID != string(vc.StoreUID()) {
		return "", false
	}
	return rec.Region, true
}

// Stale reports whether this region holds vc in the ledger, claimed back
// from another region, at an epoch or fence past vc's status: until the
// takeover rewrites vc, acting on it would act on a dead epoch.
func (l *Epochs) Stale(vc *fleetv1.VirtualCluster) bool {
	rec, ok := l.Proposer.Ledger().VClusters[ledgerKey(vc)]
	return ok && rec.Region == l.Region && rec.UID == string(vc.StoreUID()) && rec.Ahead(vc.Status.Epoch, vc.Status.FencedEpoch)
}

// Spill claims vc, which no host of this region has room for, for the
// first region by name that reported within LiveWithin, that vc's
// placement allows, that can use its store (CanKeep), and that has a
// ready host with its CPU and memory free, as its hub last reported; that region's hub makes it there and
// places it (see controllers/takeover). "" when no region has room.
func (l *Epochs) Spill(ctx context.Context, vc *fleetv1.VirtualCluster) (string, error) {
	st := l.Proposer.Ledger()
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	want := map[string]int64{"cpu": vc.Spec.Resources.CPU.MilliValue(), "memory": vc.Spec.Resources.Memory.Value()}
	var regions []string
	for name, reg := range st.Regions {
		allowed := len(vc.Spec.Placement.Regions) == 0 || slices.Contains(vc.Spec.Placement.Regions, name)
		if name == l.Region || !allowed || !CanKeep(reg, vc.Spec.BackingStore) || (l.LiveWithin > 0 && now().Sub(reg.Reported) >= l.LiveWithin) {
			continue
		}
		for _, h := range st.Hosts {
			if h.Region == name && h.Ready && fits(h, want) {
				regions = append(regions, name)
				break
			}
		}
	}
	if len(regions) == 0 {
		return "", nil
	}
	region := slices.Min(regions)
	rec, err := l.home(ctx, l.Proposer, vc)
	if err != nil {
		return "", err
	}
	if _, err := l.Proposer.Propose(ctx, ledger.Command{Op: ledger.OpClaim, Key: rec.Key, From: rec.Epoch, Home: region}); err != nil {
		return "", err
	}
	return region, nil
}

// CanKeep reports whether region can run a vcluster of store: one whose
// state is on its host (Embedded) anywhere, an External one only where
// the region's hub can provision on its BackingStore and its hosts reach
// it. A region of the same name elsewhere is another store.
func CanKeep(region ledger.Region, store fleetv1.VirtualClusterStore) bool {
	return store.Type != fleetv1.BackingStoreExternal || region.Uses(store.Name)
}

// fits reports whether h has want free, as its hub reported it.
func fits(h ledger.Host, want map[string]int64) bool {
	for name, q := range want {
		if h.Allocatable[name]-h.Committed[name] < q {
			return false
		}
	}
	return true
}
