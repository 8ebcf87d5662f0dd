// Package pods syncs the vcluster's pods to its host, where the host
// schedules and runs them, and brings their status back: the binding to a
// node, the phase, the IPs, the containers' states.
package pods

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
)

// Resource syncs pods.
type Resource struct{}

var (
	_ syncer.Resource = (*Resource)(nil)
	_ syncer.Finisher = (*Resource)(nil)
	_ syncer.Requeuer = (*Resource)(nil)
	_ syncer.Wanted   = (*Resource)(nil)
)

// ReasonNodeLost is the Event on a pod deleted because its node is not on
// the host.
const ReasonNodeLost = "NodeLost"

// Wanted: a pod that finished on the host keeps its host copy while the
// virtual pod lasts, as a kubelet keeps a finished pod's containers: its
// logs are read there (`kubectl logs` of a completed Job's pod). A pod the
// vcluster ended while its host copy still runs has that copy go; one that
// never had a copy gets none. A pod bound to
// a node this host does not have ran elsewhere: the vcluster was failed
// over or migrated from another host, or the host lost the node. It is
// lost, as a pod of a lost node is, and goes now, so that its controller
// makes a new one here at once rather than after the pod garbage
// collector's quarantine.
func (*Resource) Wanted(ctx context.Context, s *syncer.Context, obj client.Object) (bool, error) {
	p := obj.(*corev1.Pod)
	if isTerminal(p) {
		host := &corev1.Pod{}
		if err := s.Host.Get(ctx, s.HostKey(p), host); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return isTerminal(host), nil
	}
	lost, err := onLostNode(ctx, s, p)
	if err != nil || !lost {
		return !lost, err
	}
	s.Recorder.Eventf(p, nil, corev1.EventTypeWarning, ReasonNodeLost, "Delete",
		"node %s is not on this host (the vcluster moved, or the host lost the node): the pod is deleted so that its controller makes a new one", p.Spec.NodeName)
	return false, client.IgnoreNotFound(s.Virtual.Delete(ctx, p, client.GracePeriodSeconds(0), client.Preconditions{UID: ptr.To(p.UID)}))
}

// onLostNode reports whether the pod is bound to a node the host does not
// have. A host copy on that node, or the node in the host's API though not
// yet in the cache, says it is not lost: only the API server's word
// deletes a pod.
func onLostNode(ctx context.Context, s *syncer.Context, p *corev1.Pod) (bool, error) {
	if p.Spec.NodeName == "" {
		return false, nil
	}
	key := client.ObjectKey{Name: p.Spec.NodeName}
	// Every pod's pass asks this: read-only, no copy.
	if err := s.Host.Get(ctx, key, &corev1.Node{}, client.UnsafeDisableDeepCopy); !apierrors.IsNotFound(err) {
		return false, err
	}
	host := &corev1.Pod{}
	if err := s.Host.Get(ctx, client.ObjectKey{Namespace: s.HostNamespace, Name: s.HostName(p.Name, p.Namespace)}, host); err == nil && host.Spec.NodeName == p.Spec.NodeName {
		return false, nil
	} else if err != nil && !apierrors.IsNotFound(err) {
		return false, err
	}
	if err := s.HostLive.Get(ctx, key, &corev1.Node{}); !apierrors.IsNotFound(err) {
		return false, err
	}
	return true, nil
}

// New returns the pod resource.
func New() syncer.Resource { return &Resource{} }

func (*Resource) Kind() string             { return "Pod" }
func (*Resource) NewObject() client.Object { return &corev1.Pod{} }

// ToHost checks the pod against the isolation policy and builds its host
// copy, with the token it needs from the virtual API.
func (*Resource) ToHost(ctx context.Context, s *syncer.Context, obj client.Object) (client.Object, error) {
	virtual, err := byTenantLabels(ctx, s, obj.(*corev1.Pod))
	if err != nil {
		return nil, err
	}
	if err := check(s.Isolation, virtual); err != nil {
		without := virtual.DeepCopy()
		without.Spec.EphemeralContainers = nil
		refusal, ok := err.(*syncer.Refusal)
		if !ok || len(virtual.Spec.EphemeralContainers) == 0 || check(s.Isolation, without) != nil {
			return nil, err
		}
		// Only an ephemeral container is refused: the pod runs on
		// without it, rather than be taken off the host.
		s.Recorder.Eventf(virtual, nil, corev1.EventTypeWarning, refusal.Reason, "Sync", "an ephemeral container stays off the host: %s", refusal.Message)
		virtual = without
	}
	return translate(ctx, s, virtual)
}

// check holds a virtual pod to the vcluster's class: it reaches the host
// only if nothing in it reaches beyond the vcluster there.
func check(policy fleetv1.IsolationPolicy, pod *corev1.Pod) error {
	for _, c := range []func(fleetv1.IsolationPolicy, *corev1.Pod) error{checkVolumes, checkResourceClaims, checkPolicy, checkUser, checkSteering} {
		if err := c(policy, pod); err != nil {
			return err
		}
	}
	return nil
}

// UpdateHost carries what a pod may change after it was made: labels,
// annotations and container images.
func (*Resource) UpdateHost(desired, existing client.Object) bool {
	d, e := desired.(*corev1.Pod), existing.(*corev1.Pod)
	// Only the keys the vcluster sets: the host may add its own.
	changed := merge(&e.Labels, d.Labels)
	changed = merge(&e.Annotations, d.Annotations) || changed
	changed = setImages(e.Spec.Containers, d.Spec.Containers) || changed
	changed = setImages(tenantInit(&e.Spec), tenantInit(&d.Spec)) || changed
	// A deadline may be set or shortened on a running pod; the host's
	// kubelet is what ends it.
	if d.Spec.ActiveDeadlineSeconds != nil && !ptr.Equal(d.Spec.ActiveDeadlineSeconds, e.Spec.ActiveDeadlineSeconds) {
		e.Spec.ActiveDeadlineSeconds, changed = d.Spec.ActiveDeadlineSeconds, true
	}
	return changed
}

// ForCreate leaves out the ephemeral containers, which no pod may have
// when it is made (a host copy made again for a pod that has some): they
// follow through the subresource.
func (*Resource) ForCreate(desired client.Object) client.Object {
	p := desired.(*corev1.Pod)
	if len(p.Spec.EphemeralContainers) == 0 {
		return p
	}
	p = p.DeepCopy()
	p.Spec.EphemeralContainers = nil
	return p
}

// UpdateHostSubresource carries to the host copy what only its
// subresources take: first an in-place resize, then new ephemeral
// containers (`kubectl debug`), which are only ever added.
func (*Resource) UpdateHostSubresource(desired, existing client.Object) string {
	d, e := desired.(*corev1.Pod), existing.(*corev1.Pod)
	if resize(d, e) {
		return "resize"
	}
	added := false
	for _, c := range d.Spec.EphemeralContainers {
		if !slices.ContainsFunc(e.Spec.EphemeralContainers, func(h corev1.EphemeralContainer) bool { return h.Name == c.Name }) {
			e.Spec.EphemeralContainers, added = append(e.Spec.EphemeralContainers, c), true
		}
	}
	if added {
		return "ephemeralcontainers"
	}
	return ""
}

// resize gives e the requests and limits the tenant set on d, which only
// the host pod's resize subresource takes, and reports whether any
// changed. A resource only the host set (its LimitRange's defaults)
// stays: the tenant never named it.
func resize(d, e *corev1.Pod) bool {
	changed := false
	for _, c := range []struct{ to, from []corev1.Container }{
		{e.Spec.Containers, d.Spec.Containers}, {tenantInit(&e.Spec), tenantInit(&d.Spec)},
	} {
		for i := range c.to {
			if i < len(c.from) {
				changed = mergeResources(&c.to[i].Resources, c.from[i].Resources) || changed
			}
		}
	}
	if d.Spec.Resources != nil {
		if e.Spec.Resources == nil {
			e.Spec.Resources = &corev1.ResourceRequirements{}
		}
		changed = mergeResources(e.Spec.Resources, *d.Spec.Resources) || changed
	}
	return changed
}

// mergeResources sets in to the requests and limits of from, compared as
// quantities ("1" and "1000m" are one CPU), and reports whether any
// changed.
func mergeResources(to *corev1.ResourceRequirements, from corev1.ResourceRequirements) bool {
	changed := false
	for _, l := range []struct {
		to   *corev1.ResourceList
		from corev1.ResourceList
	}{{&to.Requests, from.Requests}, {&to.Limits, from.Limits}} {
		for name, q := range l.from {
			if cur, ok := (*l.to)[name]; ok && cur.Cmp(q) == 0 {
				continue
			}
			if *l.to == nil {
				*l.to = corev1.ResourceList{}
			}
			(*l.to)[name], changed = q, true
		}
	}
	return changed
}

// ToVirtual binds the virtual pod to the node the host chose and copies
// the host's status into it.
func (*Resource) ToVirtual(ctx context.Context, s *syncer.Context, hostObj, virtualObj client.Object) error {
	host, virtual := hostObj.(*corev1.Pod), virtualObj.(*corev1.Pod)
	if err := ensureToken(ctx, s, host, virtual); err != nil {
		return err
	}
	if host.Spec.NodeName != "" && virtual.Spec.NodeName == "" {
		binding := &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: virtual.Name, Namespace: virtual.Namespace, UID: virtual.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: host.Spec.NodeName},
		}
		if err := s.Virtual.SubResource("binding").Create(ctx, virtual, binding); err != nil && !apierrors.IsConflict(err) {
			return err
		}
	}
	status := *host.Status.DeepCopy()
	// The vcluster computes its own QoS class from the pod it knows; the
	// host's may differ by the defaults its LimitRange added.
	status.QOSClass = virtual.Status.QOSClass
	// The hosts file's init container is the host copy's alone.
	status.InitContainerStatuses = slices.DeleteFunc(status.InitContainerStatuses, func(c corev1.ContainerStatus) bool {
		return c.Name == syncer.HostsFileContainer
	})
	if len(status.InitContainerStatuses) == 0 {
		// As the API gives none back.
		status.InitContainerStatuses = nil
	}
	observedGenerations(&status, host, virtual)
	tenantResources(&status, &virtual.Spec)
	virtualMessages(&status, syncer.VirtualNames(host, client.ObjectKeyFromObject(virtual), s.HostNamespace))
	if reflect.DeepEqual(status, virtual.Status) {
		return nil
	}
	latest := virtual.DeepCopy()
	latest.Status = status
	return s.Virtual.Status().Update(ctx, latest)
}

// Finish removes a virtual pod that waits to be deleted once its host copy
// is gone: no kubelet of the vcluster will ever confirm it. Its token's
// Secret went with the host pod, its owner.
func (*Resource) Finish(ctx context.Context, s *syncer.Context, obj client.Object) error {
	return client.IgnoreNotFound(s.Virtual.Delete(ctx, obj, client.GracePeriodSeconds(0), client.Preconditions{UID: ptr.To(obj.GetUID())}))
}

// RequeueAfter looks at a running pod again before its token expires.
func (*Resource) RequeueAfter(client.Object) time.Duration { return tokenRefresh }

// merge sets the keys of from in *to and reports whether any changed.
func merge(to *map[string]string, from map[string]string) bool {
	changed := false
	for k, v := range from {
		if cur, ok := (*to)[k]; !ok || cur != v {
			if *to == nil {
				*to = map[string]string{}
			}
			(*to)[k], changed = v, true
		}
	}
	return changed
}

func isTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// setImages gives each container of to the image of the container in the
// same place in from (an image is what a pod's containers may change), and
// reports whether any changed.
func setImages(to, from []corev1.Container) bool {
	changed := false
	for i := range to {
		if i < len(from) && to[i].Image != from[i].Image {
			to[i].Image, changed = from[i].Image, true
		}
	}
	return changed
}

// observedGenerations puts the generations the host's kubelet observed in
// the virtual pod's terms: the host copy's generation counts the syncer's
// updates, not the tenant's. Once the kubelet has observed the copy's
// current generation, it has seen the virtual pod's spec as UpdateHost
// carried it over (just before), so the virtual pod's generation is the
// one observed; until then the virtual pod keeps what it had.
func observedGenerations(status *corev1.PodStatus, host, virtual *corev1.Pod) {
	observed := func(byHost, had int64) int64 {
		switch {
		case byHost == 0:
			return 0
		case byHost >= host.Generation:
			return virtual.Generation
		default:
			return had
		}
	}
	status.ObservedGeneration = observed(status.ObservedGeneration, virtual.Status.ObservedGeneration)
	for i := range status.Conditions {
		var had int64
		for _, c := range virtual.Status.Conditions {
			if c.Type == status.Conditions[i].Type {
				had = c.ObservedGeneration
			}
		}
		status.Conditions[i].ObservedGeneration = observed(status.Conditions[i].ObservedGeneration, had)
	}
}

// tenantResources shows, of the resources the host's kubelet reports for
// each container (allocated, and in effect), those the tenant's spec
// names: the host's LimitRange gives a container that names no memory
// request one, which the tenant never asked for and which its own
// resize would not find.
func tenantResources(status *corev1.PodStatus, spec *corev1.PodSpec) {
	named := map[string]corev1.ResourceRequirements{}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		named[c.Name] = c.Resources
	}
	keep := func(l corev1.ResourceList, in corev1.ResourceList) corev1.ResourceList {
		var out corev1.ResourceList
		for name, q := range l {
			if _, ok := in[name]; ok {
				if out == nil {
					out = corev1.ResourceList{}
				}
				out[name] = q
			}
		}
		// None is nil, as the API gives it back: an empty list would
		// differ from it on every pass.
		return out
	}
	for _, list := range [][]corev1.ContainerStatus{status.InitContainerStatuses, status.ContainerStatuses} {
		for i := range list {
			want, ok := named[list[i].Name]
			if !ok {
				continue
			}
			list[i].AllocatedResources = keep(list[i].AllocatedResources, want.Requests)
			if r := list[i].Resources; r != nil {
				r.Requests, r.Limits = keep(r.Requests, want.Requests), keep(r.Limits, want.Limits)
			}
		}
	}
}

// virtualMessages puts the messages the host's kubelet wrote, which name
// the host pod ("container has runAsNonRoot ... (pod: \"name_ns(uid)\")"),
// in the tenant's names.
func virtualMessages(status *corev1.PodStatus, names *strings.Replacer) {
	status.Message = names.Replace(status.Message)
	for i := range status.Conditions {
		status.Conditions[i].Message = names.Replace(status.Conditions[i].Message)
	}
	for _, list := range [][]corev1.ContainerStatus{status.InitContainerStatuses, status.ContainerStatuses, status.EphemeralContainerStatuses} {
		for i := range list {
			for _, st := range []*corev1.ContainerState{&list[i].State, &list[i].LastTerminationState} {
				if st.Waiting != nil {
					st.Waiting.Message = names.Replace(st.Waiting.Message)
				}
				if st.Terminated != nil {
					st.Terminated.Message = names.Replace(st.Terminated.Message)
				}
			}
		}
	}
}
