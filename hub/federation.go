package hub

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/federation"
	"github.com/vfleet/vfleet/federation/ledger"
)

// federationPeer runs the hub's raft peer while this replica leads the
// hub, and reports its region's hosts to the federation's ledger.
type federationPeer struct {
	opts   federation.Options
	reader client.Reader
	clock  clock.PassiveClock
	// live is the peer while it runs.
	live livePeer
	// steady is since when the region's reports have committed without
	// a long gap.
	steady steadiness
}

// steadiness is since when a hub's reports have committed without a gap
// of more than half the region-loss time, by its clock. Reports run from
// the loop and from placements (reportNow), so it is locked.
type steadiness struct {
	mu          sync.Mutex
	last, since time.Time
}

// at is the steady time a report proposed at now carries.
func (s *steadiness) at(now time.Time, gap time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return steadySince(s.last, s.since, now, gap)
}

// committed records a report of time at, steady since since, as
// committed; a late one older than the last changes nothing.
func (s *steadiness) committed(at, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at.After(s.last) {
		s.last, s.since = at, since
	}
}

// steadySince is the steady time of a report at now, after one committed
// at last that was steady since since: a gap longer than gap, or no
// report yet (a hub that just started or just came to lead), starts a new
// steady run now.
func steadySince(last, since, now time.Time, gap time.Duration) time.Time {
	if last.IsZero() || now.Sub(last) > gap {
		return now
	}
	return since
}

// errNoPeer is the ledger's answer while this replica runs no peer (it
// does not lead the hub, or the peer is starting).
var errNoPeer = errors.New("this hub's federation peer is not running")

// livePeer proposes through the peer while it runs.
type livePeer struct {
	p atomic.Pointer[federation.Peer]
}

func (l *livePeer) Propose(ctx context.Context, c ledger.Command) (int64, error) {
	p := l.p.Load()
	if p == nil {
		return 0, errNoPeer
	}
	return p.Propose(ctx, c)
}

func (l *livePeer) Ledger() *ledger.State {
	if p := l.p.Load(); p != nil {
		return p.Ledger()
	}
	return ledger.New()
}

// reportNow reports the region's hosts through the running peer.
func (f *federationPeer) reportNow(ctx context.Context) error {
	p := f.live.p.Load()
	if p == nil {
		return errNoPeer
	}
	return f.report(ctx, p)
}

func (f *federationPeer) NeedLeaderElection() bool { return true }

// Start runs the peer until ctx ends; a peer that cannot start stops the
// hub, with the reason.
func (f *federationPeer) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("federation")
	p, err := f.opts.Start(ctx)
	if err != nil {
		return err
	}
	log.Info("Federation peer started", "id", f.opts.ID, "region", f.opts.Region)
	f.live.p.Store(p)
	defer f.live.p.Store(nil)
	defer clearPeerMetrics()
	tick := time.NewTicker(f.opts.ReportEvery)
	defer tick.Stop()
	// The quorum is watched more often than hosts are reported: losing
	// it stops every placement and failover of the region.
	watch := time.NewTicker(time.Second)
	defer watch.Stop()
	quorum := true
	for {
		if err := f.report(ctx, p); err != nil && ctx.Err() == nil {
			log.Error(err, "Could not report the region's hosts to the federation")
		}
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return p.Close()
			case <-tick.C:
				waiting = false
			case <-watch.C:
			}
			st, err := p.Status()
			if err != nil {
				continue
			}
			setPeerMetrics(st)
			if st.Quorum != quorum {
				quorum = st.Quorum
				if quorum {
					log.Info("The federation has a quorum again: placement and failover resume", "leader", st.Leader.ID)
				} else {
					log.Info("The federation lost its quorum: this hub places and fails over nothing until it is back; what runs keeps running", "state", st.State)
				}
			}
		}
	}
}

func (f *federationPeer) report(ctx context.Context, p *federation.Peer) error {
	var hosts fleetv1.HostClusterList
	if err := f.reader.List(ctx, &hosts); err != nil {
		return err
	}
	var vcs fleetv1.VirtualClusterList
	if err := f.reader.List(ctx, &vcs); err != nil {
		return err
	}
	var stores fleetv1.BackingStoreList
	if err := f.reader.List(ctx, &stores); err != nil {
		return err
	}
	now := f.clock.Now()
	cmd := regionReport(f.opts.Region, f.opts.ID, hosts.Items, now)
	cmd.Region.Steady = f.steady.at(now, f.opts.RegionLossAfter/2)
	cmd.Region.Stores = usableStores(f.opts.Region, stores.Items)
	cmd.VClusters = vclusterStates(vcs.Items)
	// A report that does not commit within an interval is dropped for the
	// next, fresher one: sent to a leader that was just cut off, it would
	// wait out the client's timeout, and the other regions, hearing
	// nothing for that long, would take this live region for lost.
	rctx, cancel := context.WithTimeout(ctx, f.opts.ReportEvery)
	defer cancel()
	if _, err := p.Propose(rctx, cmd); err != nil {
		return err
	}
	f.steady.committed(now, cmd.Region.Steady)
	return nil
}

// vclusterStates are the phase and readiness of the vclusters this region
// runs, for the other regions' mirrors: those placed here, not a copy
// another region runs.
func vclusterStates(vcs []fleetv1.VirtualCluster) []ledger.VClusterState {
	var out []ledger.VClusterState
	for _, vc := range vcs {
		if vc.Status.Epoch == 0 || vc.Status.Phase == fleetv1.PhaseElsewhere {
			continue
		}
		out = append(out, ledger.VClusterState{
			Key: vc.Namespace + "/" + vc.Name, Phase: string(vc.Status.Phase),
			Ready: meta.IsStatusConditionTrue(vc.Status.Conditions, fleetv1.ConditionReady),
		})
	}
	return out
}

// regionReport is the ledger's command for the region's hosts as the hub
// sees them: those of the region, ready or not, with their capacity in
// the ledger's units (millicores for cpu, whole units for the rest).
func regionReport(region, hub string, hosts []fleetv1.HostCluster, now time.Time) ledger.Command {
	cmd := ledger.Command{Op: ledger.OpReportRegion, Region: &ledger.Region{Name: region, Hub: hub, Reported: now}}
	for _, h := range hosts {
		if h.Spec.Region != region {
			continue
		}
		cmd.Hosts = append(cmd.Hosts, ledger.Host{
			Name: h.Name, Region: region,
			Ready:       meta.IsStatusConditionTrue(h.Status.Conditions, fleetv1.ConditionReady),
			Allocatable: units(h.Status.Allocatable), Committed: units(h.Status.Committed),
		})
	}
	return cmd
}

// usableStores are the BackingStores region can run vclusters on: those
// its hub can provision on now (Ready) that its hosts reach. A store the
// hub cannot log in to is left out, so that no other region hands this one
// a vcluster it could only fail to start.
func usableStores(region string, stores []fleetv1.BackingStore) []string {
	var out []string
	for _, bs := range stores {
		reached := bs.Spec.Region == region || slices.Contains(bs.Spec.ReachableFromRegions, region)
		if reached && meta.IsStatusConditionTrue(bs.Status.Conditions, fleetv1.ConditionReady) {
			out = append(out, bs.Name)
		}
	}
	return out
}

func units(l corev1.ResourceList) map[string]int64 {
	if len(l) == 0 {
		return nil
	}
	out := make(map[string]int64, len(l))
	for name, q := range l {
		if name == corev1.ResourceCPU {
			out[string(name)] = q.MilliValue()
		} else {
			out[string(name)] = q.Value()
		}
	}
	return out
}
