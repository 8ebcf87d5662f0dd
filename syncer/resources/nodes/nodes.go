// Package nodes shows in the vcluster the host nodes its pods could run on,
// or, as its class chooses, only those they run on: with their real
// capacity and conditions, and none of the rest of the host.
package nodes

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
)

// nodeNameField indexes host pods by the node they run on.
const nodeNameField = "spec.nodeName"

// Controller mirrors host nodes into the vcluster.
type Controller struct {
	s *syncer.Context
}

var _ syncer.Controller = (*Controller)(nil)

// New returns the node controller.
func New() syncer.Controller { return &Controller{} }

func (c *Controller) SetupWithSyncer(mgr ctrl.Manager, host cluster.Cluster, s *syncer.Context) error {
	c.s = s
	if err := host.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, nodeNameField, func(obj client.Object) []string {
		if n := obj.(*corev1.Pod).Spec.NodeName; n != "" {
			return []string{n}
		}
		return nil
	}); err != nil {
		return err
	}
	byNode := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		if p, ok := obj.(*corev1.Pod); ok {
			if p.Spec.NodeName == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: p.Spec.NodeName}}}
		}
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: obj.GetName()}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("sync-nodes").
		WatchesRawSource(source.Kind(host.GetCache(), client.Object(&corev1.Pod{}), byNode)).
		WatchesRawSource(source.Kind(host.GetCache(), client.Object(&corev1.Node{}), byNode)).
		WatchesRawSource(source.Kind(mgr.GetCache(), client.Object(&corev1.Node{}), byNode)).
		Complete(c)
}

// Reconcile shows a host node in the vcluster while its class shows it or
// a pod of the vcluster runs there, and removes it after.
func (c *Controller) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	s := c.s
	virtual := &corev1.Node{}
	err := s.Virtual.Get(ctx, req.NamespacedName, virtual)
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	exists := err == nil
	if exists && virtual.Labels[syncer.LabelSyncedFrom] == "" {
		// Not ours: a node the tenant made itself.
		return reconcile.Result{}, nil
	}
	host := &corev1.Node{}
	shown := true
	if err := s.Host.Get(ctx, req.NamespacedName, host); apierrors.IsNotFound(err) {
		shown = false
	} else if err != nil {
		return reconcile.Result{}, err
	}
	if shown && !Visible(s.Isolation, host) {
		if shown, err = c.used(ctx, req.Name); err != nil {
			return reconcile.Result{}, err
		}
	}
	if !shown {
		if exists {
			return reconcile.Result{}, client.IgnoreNotFound(s.Virtual.Delete(ctx, virtual))
		}
		return reconcile.Result{}, nil
	}
	mirrored, err := json.Marshal(host.Spec.Taints)
	if err != nil {
		return reconcile.Result{}, err
	}
	hostLabels, err := json.Marshal(host.Labels)
	if err != nil {
		return reconcile.Result{}, err
	}
	if !exists {
		virtual = &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: host.Name, Labels: syncer.SyncedFromHost(host.Labels), Annotations: map[string]string{
				AnnotationHostTaints: string(mirrored), AnnotationHostLabels: string(hostLabels),
			}},
			Spec: corev1.NodeSpec{Taints: host.Spec.Taints, Unschedulable: host.Spec.Unschedulable},
		}
		if err := s.Virtual.Create(ctx, virtual); err != nil {
			return reconcile.Result{}, err
		}
	} else if labels, taints := VirtualLabels(host.Labels, virtual), virtualTaints(host.Spec.Taints, virtual); !maps.Equal(virtual.Labels, labels) ||
		!reflect.DeepEqual(virtual.Spec.Taints, taints) || virtual.Annotations[AnnotationHostTaints] != string(mirrored) ||
		virtual.Annotations[AnnotationHostLabels] != string(hostLabels) || virtual.Spec.Unschedulable != host.Spec.Unschedulable {
		virtual.Labels, virtual.Spec.Taints, virtual.Spec.Unschedulable = labels, taints, host.Spec.Unschedulable
		if virtual.Annotations == nil {
			virtual.Annotations = map[string]string{}
		}
		virtual.Annotations[AnnotationHostTaints] = string(mirrored)
		virtual.Annotations[AnnotationHostLabels] = string(hostLabels)
		if err := s.Virtual.Update(ctx, virtual); err != nil {
			return reconcile.Result{}, err
		}
	}
	status := virtualStatus(host, s.Kubelet)
	if reflect.DeepEqual(status, virtual.Status) {
		return reconcile.Result{}, nil
	}
	virtual.Status = status
	err = s.Virtual.Status().Update(ctx, virtual)
	if apierrors.IsConflict(err) {
		return reconcile.Result{RequeueAfter: syncer.Retry}, nil
	}
	return reconcile.Result{}, err
}

// AnnotationHostLabels records on a virtual node the host node's labels as
// the syncer last mirrored them: a label beyond them is the tenant's.
const AnnotationHostLabels = "fleet.vfleet.dev/host-labels"

// VirtualLabels are the host node's labels and, beside them, those the
// tenant put on the virtual node itself: the keys it has beyond the host's
// as last mirrored. A tenant's label acts only in the vcluster (its
// DaemonSets' and its pods' choice of node, which the syncer carries to
// the host as node names: see pods); where the tenant's and the host's
// name the same key, the host's wins. A node mirrored before the record
// was kept counts all its labels as the host's.
func VirtualLabels(host map[string]string, virtual *corev1.Node) map[string]string {
	out := syncer.SyncedFromHost(host)
	for k, v := range TenantLabels(virtual) {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	return out
}

// TenantLabels are the labels the tenant put on a virtual node: those
// beyond the host's as last mirrored.
func TenantLabels(virtual *corev1.Node) map[string]string {
	var mirrored map[string]string
	rec, ok := virtual.Annotations[AnnotationHostLabels]
	if !ok || json.Unmarshal([]byte(rec), &mirrored) != nil {
		return nil
	}
	var out map[string]string
	for k, v := range virtual.Labels {
		if _, host := mirrored[k]; host || k == syncer.LabelSyncedFrom {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// AnnotationHostTaints records on a virtual node the host node's taints
// as the syncer last mirrored them: a taint beyond them is the tenant's.
const AnnotationHostTaints = "fleet.vfleet.dev/host-taints"

// virtualTaints are the host node's taints and, beside them, those the
// tenant put on the virtual node itself: the taints it has beyond the
// host's as last mirrored. A tenant's taint acts only in the vcluster
// (its own eviction of its own pods, its DaemonSets' placement); where a
// tenant's and the host's name the same key and effect, the host's wins.
// A node mirrored before the record was kept counts all its taints as
// the host's.
func virtualTaints(host []corev1.Taint, virtual *corev1.Node) []corev1.Taint {
	var mirrored []corev1.Taint
	if rec, ok := virtual.Annotations[AnnotationHostTaints]; !ok || json.Unmarshal([]byte(rec), &mirrored) != nil {
		mirrored = virtual.Spec.Taints
	}
	same := func(a, b corev1.Taint) bool { return a.Key == b.Key && a.Effect == b.Effect }
	out := slices.Clone(host)
	for _, t := range virtual.Spec.Taints {
		if kubernetesOwn(t.Key) || slices.ContainsFunc(mirrored, func(m corev1.Taint) bool { return same(m, t) && m.Value == t.Value }) ||
			slices.ContainsFunc(out, func(h corev1.Taint) bool { return same(h, t) }) {
			continue
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// kubernetesOwn says whether a taint's key is one Kubernetes' own
// components set (not-ready, unreachable, a condition's pressure, a cloud
// node not yet initialized): the vcluster's admission and controllers add
// those to its nodes too, from conditions only the host judges, so they
// are never the tenant's and always the host's.
func kubernetesOwn(key string) bool {
	return strings.HasPrefix(key, "node.kubernetes.io/") || strings.HasPrefix(key, "node.cloudprovider.kubernetes.io/")
}

// virtualStatus is what the vcluster shows of a host node: its capacity,
// conditions and addresses, with the kubelet proxy, where the vcluster's
// apiserver reaches every node's kubelet API, added under an address type
// of its own (syncer.KubeletAddressType, the only one that apiserver
// prefers). The host's kubelet knows none of the vcluster's pods; the
// host's addresses stay what a pod reaching the node (a NodePort, its
// hostIP) dials.
func virtualStatus(host *corev1.Node, kubelet *syncer.Endpoint) corev1.NodeStatus {
	status := corev1.NodeStatus{
		Capacity: host.Status.Capacity, Allocatable: host.Status.Allocatable, Phase: host.Status.Phase,
		Conditions: host.Status.Conditions, Addresses: host.Status.Addresses, NodeInfo: host.Status.NodeInfo,
		DaemonEndpoints: host.Status.DaemonEndpoints,
	}
	if kubelet != nil {
		status.Addresses = append(slices.Clone(host.Status.Addresses), corev1.NodeAddress{Type: syncer.KubeletAddressType, Address: kubelet.Address})
		status.DaemonEndpoints = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(kubelet.Port)}}
	}
	return status
}

// Visible says whether the class shows a host node whatever runs there:
// with Schedulable, one the vcluster's pods could be scheduled to. A node
// that is cordoned, outside the class's nodeSelector, or with a taint that
// keeps pods off and that the class lets no pod tolerate, is not.
func Visible(policy fleetv1.IsolationPolicy, node *corev1.Node) bool {
	if policy.Nodes == fleetv1.NodesUsed || node.Spec.Unschedulable {
		return false
	}
	for k, v := range policy.NodeSelector {
		if got, ok := node.Labels[k]; !ok || got != v {
			return false
		}
	}
	for _, t := range node.Spec.Taints {
		// Kubernetes' own taints (not ready, unreachable, under pressure)
		// say how the node is, for a while, not whose it is: the node is
		// shown as it is, as on any cluster.
		if strings.HasPrefix(t.Key, "node.kubernetes.io/") {
			continue
		}
		if t.Effect != corev1.TaintEffectPreferNoSchedule && !fleetv1.TolerationAllowed(t.Key, string(t.Effect), policy.AllowedTolerations) {
			return false
		}
	}
	return true
}

// used reports whether a pod of the vcluster runs on the node.
func (c *Controller) used(ctx context.Context, node string) (bool, error) {
	var pods corev1.PodList
	// Read-only, and a busy node runs hundreds: no copies.
	if err := c.s.Host.List(ctx, &pods, client.InNamespace(c.s.HostNamespace), client.MatchingFields{nodeNameField: node}, client.UnsafeDisableDeepCopy); err != nil {
		return false, err
	}
	for _, p := range pods.Items {
		if c.s.Owns(&p) {
			return true, nil
		}
	}
	return false, nil
}
