// Package takeover keeps what a region of a federation knows of the
// others' vclusters. It fails over, from a surviving region, the
// vclusters of a region whose hub stopped reporting: it claims each in the
// federation's ledger and makes its VirtualCluster again here, at its last
// epoch on its lost host, where the virtualcluster controller's failover
// fences that epoch on the store and places the next on a host of this
// region, as for any lost host. And it keeps a read-only mirror here of
// every vcluster another region runs (mirrors.go).
package takeover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/federation"
	"github.com/vfleet/vfleet/federation/ledger"
)

// AnnotationTakenOverFrom is set on a VirtualCluster made here from the
// ledger, to the region it came from: one that was lost, or one that had
// no room for it.
const AnnotationTakenOverFrom = fleetv1.AnnotationTakenOverFrom

// AnnotationTakenOverBy is set on this region's VirtualCluster that
// another region took over while this one was lost, to that region: it
// tells the hub's virtualcluster controller, which watches the objects,
// not the ledger, to retire its copy.
const AnnotationTakenOverBy = fleetv1.AnnotationTakenOverBy

// Runner watches the ledger for lost regions while this replica leads the
// hub.
type Runner struct {
	Client   client.Client
	Proposer federation.Proposer
	Clock    clock.PassiveClock
	// Region is this hub's.
	Region string
	// After is how long a region must not have reported before its
	// vclusters are taken over; Every how often the ledger is looked at.
	After, Every time.Duration
}

// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=virtualclusters,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=virtualclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;create

func (r *Runner) NeedLeaderElection() bool { return true }

// Start looks at the ledger every r.Every until ctx ends.
func (r *Runner) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("takeover")
	tick := time.NewTicker(r.Every)
	defer tick.Stop()
	for {
		if err := r.Pass(ctrl.LoggerInto(ctx, log)); err != nil && ctx.Err() == nil {
			log.Error(err, "Could not take over a lost region's vclusters")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Pass claims what this region takes over of the lost regions'
// vclusters, and makes the VirtualClusters the ledger has as this
// region's and this management cluster lacks.
func (r *Runner) Pass(ctx context.Context) error {
	st := r.Proposer.Ledger()
	now := r.Clock.Now()
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(st.VClusters)) {
		vc := st.VClusters[key]
		if vc.Region == r.Region || !silent(st, r.Region, vc.Region, now, r.After) {
			continue
		}
		// Another surviving region takes it over, or none can (its
		// mirrors say why), or none reports at all: this hub's own
		// reports fail too, it has no quorum.
		if by, why := taker(st, vc, now, r.After); by != r.Region {
			ctrl.LoggerFrom(ctx).V(1).Info("A lost region's vcluster is not this region's to take over", "vcluster", key, "region", vc.Region, "taker", by, "why", why)
			continue
		}
		if _, err := r.Proposer.Propose(ctx, ledger.Command{Op: ledger.OpClaim, Key: key, From: vc.Epoch, Home: r.Region}); err != nil {
			if !errors.Is(err, ledger.ErrRefused) {
				errs = append(errs, fmt.Errorf("claim %s: %w", key, err))
			}
			continue
		}
		ctrl.LoggerFrom(ctx).Info("Claimed a lost region's vcluster", "vcluster", key, "from", vc.Region, "epoch", vc.Epoch, "host", vc.Host)
	}
	return errors.Join(append(errs, r.keep(ctx))...)
}

// keep brings this region's objects in line with the ledger as it stands
// (after any claims): what it claimed is made here, its copies of what
// others took are marked, and the others' vclusters are mirrored.
func (r *Runner) keep(ctx context.Context) error {
	st := r.Proposer.Ledger()
	return errors.Join(r.makeClaimed(ctx, st), r.markTaken(ctx, st), r.mirror(ctx, st))
}

// markTaken marks each VirtualCluster here that the ledger has in another
// region, which took it over while this one was lost.
func (r *Runner) markTaken(ctx context.Context, st *ledger.State) error {
	var list fleetv1.VirtualClusterList
	if err := r.Client.List(ctx, &list); err != nil {
		return err
	}
	var errs []error
	for i := range list.Items {
		vc := &list.Items[i]
		rec, ok := st.VClusters[vc.Namespace+"/"+vc.Name]
		if !ok || rec.Region == r.Region || vc.Status.Epoch == 0 || vc.Annotations[AnnotationTakenOverBy] == rec.Region {
			continue
		}
		patch := client.MergeFrom(vc.DeepCopy())
		if vc.Annotations == nil {
			vc.Annotations = map[string]string{}
		}
		vc.Annotations[AnnotationTakenOverBy] = rec.Region
		if err := r.Client.Patch(ctx, vc, patch); err != nil {
			errs = append(errs, err)
			continue
		}
		ctrl.LoggerFrom(ctx).Info("Another region took this vcluster over while this one was lost; its copy here retires", "virtualCluster", rec.Key, "region", rec.Region)
	}
	return errors.Join(errs...)
}

// makeClaimed makes here each vcluster this region claimed and has not
// moved yet (on a host this fleet does not have, or on none: handed over
// by a region without room): claimed now, or earlier by a pass whose make
// failed, or one this region had given away and gets back.
func (r *Runner) makeClaimed(ctx context.Context, st *ledger.State) error {
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(st.VClusters)) {
		if vc := st.VClusters[key]; vc.Region == r.Region && vc.ClaimedFrom != "" {
			if err := r.make(ctx, vc); err != nil {
				errs = append(errs, fmt.Errorf("make %s again: %w", key, err))
			}
		}
	}
	return errors.Join(errs...)
}

// make creates the VirtualCluster of vc here, unless it exists, with the
// status of its last epoch on its lost host. One this runner created and
// could not give its status (the hub's controller wrote it in between) it
// finishes: until then that controller leaves it alone.
func (r *Runner) make(ctx context.Context, rec ledger.VCluster) error {
	ns, name, _ := strings.Cut(rec.Key, "/")
	vc := &fleetv1.VirtualCluster{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, vc)
	// Only this vcluster's own copy (its store), never another of the
	// same name made here.
	gaveAway := string(vc.StoreUID()) == rec.UID &&
		(vc.Annotations[AnnotationTakenOverBy] != "" || rec.Ahead(vc.Status.Epoch, vc.Status.FencedEpoch))
	switch {
	case err == nil && !gaveAway && (vc.Annotations[AnnotationTakenOverFrom] != rec.ClaimedFrom || vc.Status.StoreUID != ""):
		return nil
	case err == nil:
		// Made, but its status is not written yet; or a copy this region
		// retired when another took the vcluster, now back here: it is
		// rewritten from the ledger, the status first (until then the
		// hub's controller leaves it alone), then the annotations.
	case !apierrors.IsNotFound(err):
		return err
	default:
		vc = &fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{
			AnnotationTakenOverFrom: rec.ClaimedFrom,
		}}}
		if err := json.Unmarshal(rec.Spec, &vc.Spec); err != nil {
			return fmt.Errorf("its spec in the ledger does not decode: %w", err)
		}
		if err := r.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		if err := r.Client.Create(ctx, vc); err != nil {
			return err
		}
	}
	// Its first object's UID names its space on the store: its data. One
	// that ran is at its last epoch on its lost host, from which it fails
	// over; one handed over before it ran is placed here as a new one.
	vc.Status = fleetv1.VirtualClusterStatus{StoreUID: rec.UID}
	if rec.Host != "" {
		vc.Status.Host, vc.Status.Epoch, vc.Status.FencedEpoch, vc.Status.Phase = rec.Host, rec.Epoch, rec.FencedEpoch, fleetv1.PhaseScheduled
	}
	if err := r.Client.Status().Update(ctx, vc); err != nil {
		return err
	}
	if vc.Annotations[AnnotationTakenOverBy] != "" || vc.Annotations[AnnotationTakenOverFrom] != rec.ClaimedFrom {
		patch := client.MergeFrom(vc.DeepCopy())
		if vc.Annotations == nil {
			vc.Annotations = map[string]string{}
		}
		delete(vc.Annotations, AnnotationTakenOverBy)
		vc.Annotations[AnnotationTakenOverFrom] = rec.ClaimedFrom
		if err := r.Client.Patch(ctx, vc, patch); err != nil {
			return err
		}
	}
	ctrl.LoggerFrom(ctx).Info("Made a vcluster of another region here", "vcluster", rec.Key, "from", rec.ClaimedFrom, "host", rec.Host, "epoch", rec.Epoch)
	return nil
}

// lost reports whether region has not reported for after.
func lost(st *ledger.State, region string, now time.Time, after time.Duration) bool {
	reg, ok := st.Regions[region]
	return !ok || now.Sub(reg.Reported) >= after
}

// silent reports whether region has been silent for after while the
// federation heard this one (own): own's last report is less than after/2
// old, so the ledger here is current and the federation commits, and
// region has not reported for after counted from the later of its last
// report and the start of own's steady run. A federation that lost its
// leader for a while heard no region; those it has not heard again yet
// are not lost for that.
func silent(st *ledger.State, own, region string, now time.Time, after time.Duration) bool {
	me, ok := st.Regions[own]
	if !ok || now.Sub(me.Reported) >= after/2 {
		return false
	}
	from := me.Steady
	if reg, ok := st.Regions[region]; ok && reg.Reported.After(from) {
		from = reg.Reported
	}
	return now.Sub(from) >= after
}

// taker is the region that takes over rec from its lost region: one of
// those that report and can use its store, chosen by spread, so that
// every surviving hub agrees without a word. When none can, it is "" and
// why says so.
func taker(st *ledger.State, rec ledger.VCluster, now time.Time, after time.Duration) (region, why string) {
	var spec fleetv1.VirtualClusterSpec
	if why := stays(rec, &spec); why != "" {
		return "", why
	}
	var live, able []string
	for name, reg := range st.Regions {
		if lost(st, name, now, after) {
			continue
		}
		live = append(live, name)
		if federation.CanKeep(reg, spec.BackingStore) {
			able = append(able, name)
		}
	}
	switch {
	case len(live) == 0:
		return "", "no region of the federation reports"
	case len(able) == 0:
		return "", fmt.Sprintf("no surviving region can use its BackingStore %s (none has it Ready and reachable from its hosts)", spec.BackingStore.Name)
	}
	return spread(rec.Key, able), ""
}

// spread chooses, for the vcluster key, one of regions: the one whose
// hash with the key is highest (rendezvous hashing). A lost region's
// vclusters are so shared out among the survivors rather than all taken by
// one, which would start them all on its hosts at once while the others'
// idle; and a key keeps its region when another region comes or goes.
func spread(key string, regions []string) string {
	best, top := "", uint64(0)
	for _, r := range regions {
		h := fnv.New64a()
		_, _ = h.Write([]byte(key + "\x00" + r))
		if v := h.Sum64(); best == "" || v > top || v == top && r < best {
			best, top = r, v
		}
	}
	return best
}

// stays says why a lost region's vcluster is not taken over whatever the
// surviving regions can do, or "": its state is on its host (an Embedded
// store), from which no other host can bring it back, or its owner fails
// it over only by hand. It decodes the vcluster's spec into spec.
func stays(vc ledger.VCluster, spec *fleetv1.VirtualClusterSpec) string {
	switch {
	case json.Unmarshal(vc.Spec, spec) != nil:
		return "its spec in the ledger does not decode"
	case spec.BackingStore.Type != fleetv1.BackingStoreExternal:
		return "its state is on its lost host (an Embedded store)"
	case spec.Failover.Mode == fleetv1.FailoverManual:
		return "it fails over only by hand (failover.mode Manual)"
	}
	return ""
}
