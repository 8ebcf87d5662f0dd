// Package ingresses syncs the vcluster's Ingresses to its host, where the
// host's ingress controllers serve them, and brings their addresses back.
// Those controllers are shared by every tenant of the host, so the class
// says which of them a vcluster may use and which host names it may claim:
// an Ingress beyond either stays in the vcluster, with an Event saying
// why. Its annotations stay there too, as every tenant annotation does:
// on the host they would configure the controller for everyone.
package ingresses

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
)

// ReasonPolicy is the Event reason of an Ingress the class keeps off the
// host.
const ReasonPolicy = "ForbiddenIngress"

// Resource syncs Ingresses.
type Resource struct{}

var _ syncer.Resource = (*Resource)(nil)

// New returns the Ingress resource.
func New() syncer.Resource { return &Resource{} }

func (*Resource) Kind() string             { return "Ingress" }
func (*Resource) NewObject() client.Object { return &networkingv1.Ingress{} }

func (*Resource) ToHost(_ context.Context, s *syncer.Context, obj client.Object) (client.Object, error) {
	v := obj.(*networkingv1.Ingress)
	spec, err := HostSpec(s.Isolation, v.Spec, func(name string) string { return s.HostName(name, v.Namespace) })
	if err != nil {
		return nil, &syncer.Refusal{Reason: ReasonPolicy, Message: "the Ingress stays off the host: " + err.Error()}
	}
	h := &networkingv1.Ingress{Spec: spec}
	h.Labels = syncer.HostLabels(v.Labels)
	return h, nil
}

// HostSpec is the host form of an Ingress's spec under policy, with every
// name it refers to (Services, TLS Secrets) given by hostName; an error
// says what the class does not allow.
func HostSpec(policy fleetv1.IsolationPolicy, v networkingv1.IngressSpec, hostName func(string) string) (networkingv1.IngressSpec, error) {
	allowed := policy.AllowedIngressClasses
	var h networkingv1.IngressSpec
	switch {
	case len(allowed) == 0:
		return h, fmt.Errorf("its class allows no ingress class (isolation.allowedIngressClasses)")
	case v.IngressClassName == nil || *v.IngressClassName == "":
		h.IngressClassName = ptr.To(allowed[0])
	case slices.Contains(allowed, *v.IngressClassName):
		h.IngressClassName = ptr.To(*v.IngressClassName)
	default:
		return h, fmt.Errorf("ingress class %q is not one its class allows (isolation.allowedIngressClasses: %s)", *v.IngressClassName, strings.Join(allowed, ", "))
	}
	claims := func(host string) error {
		if hostAllowed(host, policy.AllowedIngressHosts) {
			return nil
		}
		what := fmt.Sprintf("host %q", host)
		if host == "" {
			what = "every host name (a rule without a host, or a default backend)"
		}
		return fmt.Errorf("%s is not one its class allows (isolation.allowedIngressHosts: %s)", what, strings.Join(policy.AllowedIngressHosts, ", "))
	}
	if v.DefaultBackend != nil {
		if err := claims(""); err != nil {
			return h, err
		}
		b, err := hostBackend(*v.DefaultBackend, hostName)
		if err != nil {
			return h, err
		}
		h.DefaultBackend = &b
	}
	for _, r := range v.Rules {
		if err := claims(r.Host); err != nil {
			return h, err
		}
		rule := networkingv1.IngressRule{Host: r.Host}
		if r.HTTP != nil {
			rule.HTTP = &networkingv1.HTTPIngressRuleValue{}
			for _, p := range r.HTTP.Paths {
				b, err := hostBackend(p.Backend, hostName)
				if err != nil {
					return h, err
				}
				rule.HTTP.Paths = append(rule.HTTP.Paths, networkingv1.HTTPIngressPath{Path: p.Path, PathType: p.PathType, Backend: b})
			}
		}
		h.Rules = append(h.Rules, rule)
	}
	for _, t := range v.TLS {
		for _, host := range t.Hosts {
			if err := claims(host); err != nil {
				return h, err
			}
		}
		tls := networkingv1.IngressTLS{Hosts: slices.Clone(t.Hosts)}
		if t.SecretName != "" {
			tls.SecretName = hostName(t.SecretName)
		}
		h.TLS = append(h.TLS, tls)
	}
	return h, nil
}

// hostBackend points a backend at the host copy of its Service. A
// resource backend names an object of the host's API, which is not the
// tenant's to name.
func hostBackend(b networkingv1.IngressBackend, hostName func(string) string) (networkingv1.IngressBackend, error) {
	if b.Resource != nil || b.Service == nil {
		return b, fmt.Errorf("a backend must be a Service: resource backends name objects of the host")
	}
	svc := *b.Service
	svc.Name = hostName(svc.Name)
	return networkingv1.IngressBackend{Service: &svc}, nil
}

// hostAllowed says whether host is among allowed: the same name, a name
// under a *.suffix entry, or any name (the empty one too) with "*".
func hostAllowed(host string, allowed []string) bool {
	host = strings.ToLower(host)
	for _, a := range allowed {
		switch {
		case a == "*":
			return true
		case host == "":
		case a == host:
			return true
		case strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:]) && !strings.HasPrefix(host, "*"):
			return true
		case strings.HasPrefix(a, "*.") && strings.HasPrefix(host, "*.") && strings.HasSuffix(host[1:], a[1:]):
			// A wildcard host within the allowed one.
			return true
		}
	}
	return false
}

func (*Resource) UpdateHost(desired, existing client.Object) bool {
	return syncer.UpdateSpec(&desired.(*networkingv1.Ingress).Spec, &existing.(*networkingv1.Ingress).Spec)
}

// ToVirtual copies the addresses the host's controller gave the Ingress.
func (*Resource) ToVirtual(ctx context.Context, s *syncer.Context, hostObj, virtualObj client.Object) error {
	h, v := hostObj.(*networkingv1.Ingress), virtualObj.(*networkingv1.Ingress)
	if reflect.DeepEqual(h.Status, v.Status) {
		return nil
	}
	latest := v.DeepCopy()
	latest.Status = *h.Status.DeepCopy()
	return s.Virtual.Status().Update(ctx, latest)
}
