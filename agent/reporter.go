package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/version"
)

// reporter writes the host's capacity into its HostCluster's status when it
// changes, at most once per minInterval. Every event maps to the one
// request for this host; the reconcile computes the whole report from the
// caches, so it is level-triggered and a repeat changes nothing.
type reporter struct {
	hub      client.Client // cached: ControlPlanes of the host's namespace
	host     client.Reader // cached: nodes, and vfleet-managed pods
	hostName string
	region   string
	zone     string
	binRoot  string
	// versions, when set, are the Kubernetes versions the host offers
	// (the kubernetes runtime's image carries them); else those under
	// binRoot.
	versions    []string
	overhead    Overhead
	minInterval time.Duration
	clock       clock.Clock
	// selfFenceAfter is reported so that the hub places vclusters that
	// fail over only where the agent fences itself in time.
	selfFenceAfter time.Duration

	mu       sync.Mutex
	last     *Report
	lastSent time.Time
	// computed is when the report was last computed: a busy host (a
	// thousand pods starting) changes on every event, and computing over
	// all its pods for each would cost more than the pods themselves.
	computed time.Time
	reported atomic.Bool
}

func (r *reporter) request() []reconcile.Request {
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: r.hostName}}}
}

func (r *reporter) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	r.mu.Lock()
	wait := r.minInterval - r.clock.Since(r.computed)
	if r.last != nil && wait > 0 {
		r.mu.Unlock()
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	r.computed = r.clock.Now()
	r.mu.Unlock()
	report, cps, used, err := r.compute(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := r.sendUsed(ctx, cps, used); err != nil {
		return reconcile.Result{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last != nil && report.equal(*r.last) {
		return reconcile.Result{}, nil
	}
	if wait := r.minInterval - r.clock.Since(r.lastSent); r.last != nil && wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	if err := r.send(ctx, report); err != nil {
		return reconcile.Result{}, err
	}
	r.last, r.lastSent = &report, r.clock.Now()
	setHostCapacity(report)
	r.reported.Store(true)
	ctrl.LoggerFrom(ctx).V(1).Info("Reported capacity", "allocatableCPU", report.Allocatable.Cpu().String(),
		"committedCPU", report.Committed.Cpu().String(), "nodes", report.Nodes, "virtualClusters", report.VirtualClusters)
	return reconcile.Result{}, nil
}

// compute is the host's report, with its ControlPlanes and what each
// vcluster's pods use, by UID.
func (r *reporter) compute(ctx context.Context) (Report, []fleetv1.ControlPlane, map[string]corev1.ResourceList, error) {
	nodes := &corev1.NodeList{}
	// Read-only: no copies of a thousand pods per report.
	if err := r.host.List(ctx, nodes, client.UnsafeDisableDeepCopy); err != nil {
		return Report{}, nil, nil, err
	}
	pods := &corev1.PodList{}
	if err := r.host.List(ctx, pods, client.MatchingLabels{fleetv1.LabelManagedBy: fleetv1.ManagedByValue}, client.UnsafeDisableDeepCopy); err != nil {
		return Report{}, nil, nil, err
	}
	cps := &fleetv1.ControlPlaneList{}
	if err := r.hub.List(ctx, cps, client.InNamespace(fleetv1.HostNamespace(r.hostName))); err != nil {
		return Report{}, nil, nil, err
	}
	return Report{
		Allocatable:        Allocatable(nodes.Items),
		Committed:          Committed(cps.Items, r.overhead),
		Used:               Used(pods.Items),
		Nodes:              int32(len(nodes.Items)),
		VirtualClusters:    int32(len(cps.Items)),
		KubernetesVersions: r.offered(),
	}, cps.Items, UsedByVCluster(pods.Items), nil
}

// sendUsed writes into each ControlPlane's status what its vcluster's
// pods use here, where that changed: the hub's cost metrics compare it
// with what the vcluster reserves.
func (r *reporter) sendUsed(ctx context.Context, cps []fleetv1.ControlPlane, used map[string]corev1.ResourceList) error {
	var errs []error
	for i := range cps {
		cp := &cps[i]
		now := useOf(used[cp.Spec.VirtualCluster.UID])
		if !cp.DeletionTimestamp.IsZero() || sameUse(cp.Status.Used, now) {
			continue
		}
		patch := client.MergeFrom(cp.DeepCopy())
		cp.Status.Used = now
		if err := r.hub.Status().Patch(ctx, cp, patch); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("report what %s uses: %w", cp.Name, err))
		}
	}
	return errors.Join(errs...)
}

// useOf is l as a ControlPlane reports it; nil l is nothing used.
func useOf(l corev1.ResourceList) *fleetv1.ResourceUse {
	return &fleetv1.ResourceUse{CPU: *l.Cpu(), Memory: *l.Memory(), Pods: int32(min(l.Pods().Value(), math.MaxInt32))}
}

func sameUse(a, b *fleetv1.ResourceUse) bool {
	return a != nil && b != nil && a.CPU.Cmp(b.CPU) == 0 && a.Memory.Cmp(b.Memory) == 0 && a.Pods == b.Pods
}

// send merge-patches the agent's fields of the status, and only those: the
// hub owns the conditions.
func (r *reporter) send(ctx context.Context, report Report) error {
	// Every field is spelled out: a merge patch leaves out what is omitted,
	// so an emptied list or a zero count must still be sent.
	versions := report.KubernetesVersions
	if versions == nil {
		versions = []string{}
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"allocatable": report.Allocatable, "committed": report.Committed, "used": report.Used,
		"nodes": report.Nodes, "virtualClusters": report.VirtualClusters, "kubernetesVersions": versions,
		"region": r.region, "zone": r.zone, "agentVersion": version.Version,
		"selfFenceAfterSeconds": int32(r.selfFenceAfter / time.Second),
		"lastReportTime":        metav1.NewTime(r.clock.Now()),
	}})
	if err != nil {
		return err
	}
	host := &fleetv1.HostCluster{ObjectMeta: metav1.ObjectMeta{Name: r.hostName}}
	if err := r.hub.Status().Patch(ctx, host, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("report capacity: %w", err)
	}
	return nil
}

// offered are the Kubernetes versions control planes can run here.
func (r *reporter) offered() []string {
	if r.versions != nil {
		return r.versions
	}
	return Versions(r.binRoot)
}
