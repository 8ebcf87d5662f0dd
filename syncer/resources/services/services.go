// Package services syncs the vcluster's Services to its host at the
// ClusterIP the vcluster gave them, or, where the host has given that
// address away, brings the host's back: either way the address a tenant
// reads is the address its pods on the host can use.
package services

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/syncer"
)

// ReasonPolicy is the Event reason of a Service the isolation policy keeps
// off the host.
const ReasonPolicy = "ForbiddenByIsolationPolicy"

// Resource syncs Services.
type Resource struct{}

var (
	_ syncer.Resource     = (*Resource)(nil)
	_ syncer.NameIdentity = (*Resource)(nil)
	_ syncer.Wanted       = (*Resource)(nil)
	_ syncer.Fallback     = (*Resource)(nil)
)

// Wanted: every Service but the vcluster's own API.
func (*Resource) Wanted(_ context.Context, _ *syncer.Context, obj client.Object) (bool, error) {
	return !syncer.IsAPIService(obj), nil
}

// New returns the Service resource.
func New() syncer.Resource { return &Resource{} }

func (*Resource) Kind() string             { return "Service" }
func (*Resource) NewObject() client.Object { return &corev1.Service{} }

// IdentifiedByName: ToVirtual recreates the virtual Service to give it the
// host's ClusterIP; the host Service stays the same one.
func (*Resource) IdentifiedByName() {}

func (*Resource) ToHost(_ context.Context, s *syncer.Context, obj client.Object) (client.Object, error) {
	v := obj.(*corev1.Service)
	switch {
	case (v.Spec.Type == corev1.ServiceTypeNodePort || v.Spec.Type == corev1.ServiceTypeLoadBalancer) && !s.Isolation.AllowNodePorts:
		return nil, &syncer.Refusal{Reason: ReasonPolicy, Message: "the Service stays off the host: type " + string(v.Spec.Type) +
			" opens ports on the host's nodes, which the vcluster's isolation policy does not allow (spec.isolation.allowNodePorts)"}
	case len(v.Spec.ExternalIPs) > 0 && !s.Isolation.AllowExternalIPs:
		return nil, &syncer.Refusal{Reason: ReasonPolicy, Message: "the Service stays off the host: externalIPs are not allowed by the vcluster's isolation policy (spec.isolation.allowExternalIPs)"}
	case v.Spec.Type == corev1.ServiceTypeExternalName:
		// Nothing for the host to route; the vcluster's DNS answers it.
		return nil, &syncer.Refusal{Reason: "NotSynced", Message: "ExternalName Services are answered in the vcluster and not copied to the host"}
	}
	h := &corev1.Service{Spec: corev1.ServiceSpec{
		Type:                     v.Spec.Type,
		Ports:                    hostPorts(v.Spec.Ports, s.Isolation.AllowNodePorts),
		Selector:                 hostSelector(v),
		SessionAffinity:          v.Spec.SessionAffinity,
		SessionAffinityConfig:    v.Spec.SessionAffinityConfig,
		PublishNotReadyAddresses: v.Spec.PublishNotReadyAddresses,
		ExternalIPs:              v.Spec.ExternalIPs,
		InternalTrafficPolicy:    v.Spec.InternalTrafficPolicy,
		ExternalTrafficPolicy:    v.Spec.ExternalTrafficPolicy,
		IPFamilyPolicy:           v.Spec.IPFamilyPolicy,
	}}
	// The host Service asks for the virtual one's address, so that the
	// tenant's Service keeps the address it was given (Fallback covers the
	// host having given it away).
	h.Spec.ClusterIP, h.Spec.ClusterIPs = v.Spec.ClusterIP, v.Spec.ClusterIPs
	if v.Spec.ClusterIP == corev1.ClusterIPNone || v.Spec.ClusterIP == "" || (s.ServiceCIDR != nil && !s.ServiceCIDR.Contains(net.ParseIP(v.Spec.ClusterIP))) {
		h.Spec.ClusterIP, h.Spec.ClusterIPs = "", nil
		if v.Spec.ClusterIP == corev1.ClusterIPNone {
			h.Spec.ClusterIP = corev1.ClusterIPNone
		}
	}
	h.Labels = syncer.HostLabels(v.Labels)
	return h, nil
}

// hostSelector selects the host copies of the pods the virtual Service
// selects: the same labels, in the same virtual namespace. A Service with
// no selector has its endpoints synced instead.
func hostSelector(v *corev1.Service) map[string]string {
	if len(v.Spec.Selector) == 0 {
		return nil
	}
	return syncer.InVirtualNamespace(syncer.HostLabels(v.Spec.Selector), v.Namespace)
}

// Fallback: where the host refuses the virtual Service's ClusterIP (held
// by another of its Services), the host picks one, and ToVirtual makes the
// virtual Service again with it.
func (*Resource) Fallback(desired client.Object, refused error) client.Object {
	d := desired.(*corev1.Service)
	if !apierrors.IsInvalid(refused) || d.Spec.ClusterIP == "" || d.Spec.ClusterIP == corev1.ClusterIPNone {
		return nil
	}
	alt := d.DeepCopy()
	alt.Spec.ClusterIP, alt.Spec.ClusterIPs = "", nil
	return alt
}

func hostPorts(ports []corev1.ServicePort, keepNodePorts bool) []corev1.ServicePort {
	out := make([]corev1.ServicePort, len(ports))
	for i, p := range ports {
		out[i] = p
		if !keepNodePorts {
			out[i].NodePort = 0
		}
	}
	return out
}

func (*Resource) UpdateHost(desired, existing client.Object) bool {
	d, e := desired.(*corev1.Service), existing.(*corev1.Service)
	changed := false
	set := func(same bool, apply func()) {
		if !same {
			apply()
			changed = true
		}
	}
	set(portsEqual(d.Spec.Ports, e.Spec.Ports), func() { e.Spec.Ports = d.Spec.Ports })
	set(maps.Equal(d.Spec.Selector, e.Spec.Selector), func() { e.Spec.Selector = d.Spec.Selector })
	set(d.Spec.Type == e.Spec.Type, func() { e.Spec.Type = d.Spec.Type })
	set(d.Spec.SessionAffinity == e.Spec.SessionAffinity || d.Spec.SessionAffinity == "", func() { e.Spec.SessionAffinity = d.Spec.SessionAffinity })
	set(d.Spec.PublishNotReadyAddresses == e.Spec.PublishNotReadyAddresses, func() { e.Spec.PublishNotReadyAddresses = d.Spec.PublishNotReadyAddresses })
	set(reflect.DeepEqual(d.Spec.ExternalIPs, e.Spec.ExternalIPs), func() { e.Spec.ExternalIPs = d.Spec.ExternalIPs })
	return changed
}

// portsEqual compares what the vcluster sets of ports; the host fills in
// node ports and defaults.
func portsEqual(d, e []corev1.ServicePort) bool {
	if len(d) != len(e) {
		return false
	}
	for i := range d {
		if d[i].Name != e[i].Name || d[i].Port != e[i].Port || d[i].TargetPort != e[i].TargetPort ||
			(d[i].Protocol != "" && d[i].Protocol != e[i].Protocol) || (d[i].NodePort != 0 && d[i].NodePort != e[i].NodePort) {
			return false
		}
	}
	return true
}

// ToVirtual gives the virtual Service the host's ClusterIP where the host
// could not give it the virtual one's. A ClusterIP cannot change, so the
// virtual Service is made again with it, under the same name; and the
// host's load balancer status is copied.
func (*Resource) ToVirtual(ctx context.Context, s *syncer.Context, hostObj, virtualObj client.Object) error {
	h, v := hostObj.(*corev1.Service), virtualObj.(*corev1.Service)
	if h.Spec.ClusterIP != "" && h.Spec.ClusterIP != corev1.ClusterIPNone && v.Spec.ClusterIP != h.Spec.ClusterIP {
		if ip := net.ParseIP(h.Spec.ClusterIP); s.ServiceCIDR != nil && !s.ServiceCIDR.Contains(ip) {
			s.Recorder.Eventf(v, nil, corev1.EventTypeWarning, "ClusterIPOutOfRange", "Sync",
				"the host gave the Service %s, outside the vcluster's Service range %s; it keeps its own address", ip, s.ServiceCIDR)
			return nil
		}
		return recreate(ctx, s, v, h)
	}
	if !reflect.DeepEqual(v.Status.LoadBalancer, h.Status.LoadBalancer) {
		latest := v.DeepCopy()
		latest.Status.LoadBalancer = h.Status.LoadBalancer
		return s.Virtual.Status().Update(ctx, latest)
	}
	return nil
}

// recreate makes the virtual Service again with the host's ClusterIP.
func recreate(ctx context.Context, s *syncer.Context, v, h *corev1.Service) error {
	again := &corev1.Service{ObjectMeta: metav1.ObjectMeta{
		Name: v.Name, Namespace: v.Namespace, Labels: v.Labels, Annotations: v.Annotations,
		OwnerReferences: v.OwnerReferences, Finalizers: v.Finalizers,
	}, Spec: *v.Spec.DeepCopy()}
	again.Spec.ClusterIP = h.Spec.ClusterIP
	again.Spec.ClusterIPs = h.Spec.ClusterIPs
	again.Spec.IPFamilies = h.Spec.IPFamilies
	// The API server deletes a Service's Endpoints with it. Those of a
	// Service without a selector are the tenant's, written by hand, and
	// nothing would make them again: they are kept and put back.
	var endpoints *corev1.Endpoints //nolint:staticcheck // what selector-less Services are given
	if len(v.Spec.Selector) == 0 {
		ep := &corev1.Endpoints{} //nolint:staticcheck // see above
		switch err := s.VirtualLive.Get(ctx, client.ObjectKeyFromObject(v), ep); {
		case err == nil:
			endpoints = ep
		case !apierrors.IsNotFound(err):
			return err
		}
	}
	if err := s.Virtual.Delete(ctx, v, client.Preconditions{UID: ptr.To(v.UID)}); client.IgnoreNotFound(err) != nil {
		return err
	}
	err := s.Virtual.Create(ctx, again)
	if err != nil {
		// Never lose the tenant's Service: make it again as it was.
		again.Spec.ClusterIP, again.Spec.ClusterIPs = "", nil
		if err2 := s.Virtual.Create(ctx, again); err2 != nil {
			return fmt.Errorf("service %s/%s was deleted to take the host's ClusterIP and could not be made again: %w", v.Namespace, v.Name, err2)
		}
	}
	if endpoints != nil {
		//nolint:staticcheck // see above
		restored := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{
			Name: endpoints.Name, Namespace: endpoints.Namespace, Labels: endpoints.Labels, Annotations: endpoints.Annotations,
		}, Subsets: endpoints.Subsets}
		if rerr := s.Virtual.Create(ctx, restored); client.IgnoreAlreadyExists(rerr) != nil {
			return errors.Join(err, fmt.Errorf("the Endpoints of service %s/%s went with it and could not be made again: %w", v.Namespace, v.Name, rerr))
		}
	}
	return err
}
