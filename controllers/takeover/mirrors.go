package takeover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/federation/ledger"
)

// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=virtualclustermirrors,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=virtualclustermirrors/status,verbs=get;update;patch

// mirror keeps a VirtualClusterMirror here of each vcluster the ledger
// has in another region, unless a VirtualCluster of that name is here
// (the one this region made, or took over, which says so itself), and
// removes the mirrors of vclusters that are gone or now this region's.
func (r *Runner) mirror(ctx context.Context, st *ledger.State) error {
	var have fleetv1.VirtualClusterMirrorList
	if err := r.Client.List(ctx, &have); err != nil {
		return err
	}
	var errs []error
	kept := map[string]bool{}
	for _, key := range slices.Sorted(maps.Keys(st.VClusters)) {
		rec := st.VClusters[key]
		if rec.Region == r.Region {
			continue
		}
		ns, name, _ := strings.Cut(key, "/")
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &fleetv1.VirtualCluster{})
		if err == nil {
			continue
		} else if !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		kept[key] = true
		if err := r.keepMirror(ctx, rec, r.staysBecause(st, rec), ns, name); err != nil {
			errs = append(errs, err)
		}
	}
	for i := range have.Items {
		m := &have.Items[i]
		if !kept[m.Namespace+"/"+m.Name] {
			errs = append(errs, client.IgnoreNotFound(r.Client.Delete(ctx, m)))
		}
	}
	return errors.Join(errs...)
}

// staysBecause says why rec stays in its region, lost, or "" when its
// region reports or a surviving region takes it over.
func (r *Runner) staysBecause(st *ledger.State, rec ledger.VCluster) string {
	now := r.Clock.Now()
	if !lost(st, rec.Region, now, r.After) {
		return ""
	}
	by, why := taker(st, rec, now, r.After)
	if by != "" {
		return ""
	}
	since := "ever"
	if reg, ok := st.Regions[rec.Region]; ok {
		since = reg.Reported.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("region %s has not reported since %s; the vcluster stays there: %s", rec.Region, since, why)
}

// keepMirror makes or updates the mirror of rec, written only when what
// the ledger says of it changed.
func (r *Runner) keepMirror(ctx context.Context, rec ledger.VCluster, message, ns, name string) error {
	var spec fleetv1.VirtualClusterSpec
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		return err
	}
	status := fleetv1.VirtualClusterMirrorStatus{
		Region: rec.Region, Host: rec.Host, Epoch: rec.Epoch, FencedEpoch: rec.FencedEpoch, Store: rec.Store, Phase: rec.Phase, Ready: rec.Ready,
		Message: message,
	}
	m := &fleetv1.VirtualClusterMirror{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, m)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		m = &fleetv1.VirtualClusterMirror{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
		if err := r.Client.Create(ctx, m); err != nil {
			return err
		}
	case err != nil:
		return err
	case !equality.Semantic.DeepEqual(m.Spec, spec):
		m.Spec = spec
		if err := r.Client.Update(ctx, m); err != nil {
			return err
		}
	}
	observed := m.Status.ObservedTime
	m.Status.ObservedTime = nil
	if equality.Semantic.DeepEqual(m.Status, status) && observed != nil {
		return nil
	}
	status.ObservedTime = &metav1.Time{Time: r.Clock.Now()}
	m.Status = status
	return r.Client.Status().Update(ctx, m)
}
