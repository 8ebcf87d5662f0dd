package syncer

import (
	"context"
	"fmt"
	"maps"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// DNSServiceName names the Service in front of the vcluster's DNS server
// in its host namespace. The host name of a tenant's object always has
// "-x-" in it, so no synced object can take this one.
const DNSServiceName = "vfleet-dns"

// dnsManagedBy marks the EndpointSlice the syncer writes for the DNS
// Service, so that the host's EndpointSlice controllers leave it alone.
const dnsManagedBy = "syncer.vfleet.dev"

// dnsRecheck is how often the syncer makes sure the DNS Service is still
// there as it should be.
const dnsRecheck = 30 * time.Second

// dnsReachable says whether pods can reach a DNS server at addr: one on
// loopback is the control plane's own machine's, which no pod's is.
func dnsReachable(addr string) bool {
	ip := net.ParseIP(addr)
	return ip != nil && !ip.IsLoopback() && !ip.IsUnspecified()
}

// ensureDNSService makes the host namespace's DNS Service, a Service
// without a selector whose one EndpointSlice is the DNS server at ep, and
// returns its ClusterIP. keepIP, when set, is the address it had before:
// pods already running point at it, so a Service made again asks for it.
func ensureDNSService(ctx context.Context, c client.Client, s *Context, ep Endpoint, keepIP string) (string, error) {
	labels := map[string]string{fleetv1.LabelManagedBy: fleetv1.ManagedByValue, fleetv1.LabelVirtualClusterUID: s.VCluster.UID}
	ports := []corev1.ServicePort{
		{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt(ep.Port)},
		{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt(ep.Port)},
	}
	svc := &corev1.Service{}
	key := client.ObjectKey{Namespace: s.HostNamespace, Name: DNSServiceName}
	switch err := c.Get(ctx, key, svc); {
	case apierrors.IsNotFound(err):
		svc = &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: labels},
			Spec:       corev1.ServiceSpec{Ports: ports, ClusterIP: keepIP},
		}
		if err := c.Create(ctx, svc); err != nil {
			return "", fmt.Errorf("DNS Service: %w", err)
		}
	case err != nil:
		return "", err
	case len(svc.Spec.Selector) > 0 || !portsMatch(svc.Spec.Ports, ports):
		svc.Spec.Selector, svc.Spec.Ports = nil, ports
		if err := c.Update(ctx, svc); err != nil {
			return "", fmt.Errorf("DNS Service: %w", err)
		}
	}
	if err := ensureDNSEndpoints(ctx, c, s, ep, labels); err != nil {
		return "", err
	}
	return svc.Spec.ClusterIP, nil
}

func portsMatch(a, b []corev1.ServicePort) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Protocol != b[i].Protocol || a[i].Port != b[i].Port || a[i].TargetPort != b[i].TargetPort {
			return false
		}
	}
	return true
}

// ensureDNSEndpoints writes the DNS Service's EndpointSlice: the server's
// address, serving, on both protocols.
func ensureDNSEndpoints(ctx context.Context, c client.Client, s *Context, ep Endpoint, labels map[string]string) error {
	port := int32(ep.Port)
	return ensureSlice(ctx, c, client.ObjectKey{Namespace: s.HostNamespace, Name: DNSServiceName}, ep.Address, []discoveryv1.EndpointPort{
		{Name: ptr.To("dns"), Protocol: ptr.To(corev1.ProtocolUDP), Port: &port},
		{Name: ptr.To("dns-tcp"), Protocol: ptr.To(corev1.ProtocolTCP), Port: &port},
	}, labels)
}

// ensureSlice writes the EndpointSlice of the Service key names, of the
// same name, marked as the syncer's so that EndpointSlice controllers
// leave it alone: one serving address, with ports.
func ensureSlice(ctx context.Context, c client.Client, key client.ObjectKey, address string, ports []discoveryv1.EndpointPort, labels map[string]string) error {
	family := discoveryv1.AddressTypeIPv4
	if net.ParseIP(address).To4() == nil {
		family = discoveryv1.AddressTypeIPv6
	}
	want := discoveryv1.EndpointSlice{
		AddressType: family,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{address}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       ports,
	}
	sliceLabels := map[string]string{discoveryv1.LabelServiceName: key.Name, discoveryv1.LabelManagedBy: dnsManagedBy}
	maps.Copy(sliceLabels, labels)
	slice := &discoveryv1.EndpointSlice{}
	switch err := c.Get(ctx, key, slice); {
	case apierrors.IsNotFound(err):
		want.ObjectMeta = metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: sliceLabels}
		if err := c.Create(ctx, &want); err != nil {
			return fmt.Errorf("EndpointSlice %s: %w", key, err)
		}
		return nil
	case err != nil:
		return err
	}
	if slice.AddressType != want.AddressType {
		// The address type cannot change: the slice is made again.
		if err := c.Delete(ctx, slice); client.IgnoreNotFound(err) != nil {
			return err
		}
		return ensureSlice(ctx, c, key, address, ports, labels)
	}
	if len(slice.Endpoints) != 1 || !equality.Semantic.DeepEqual(slice.Endpoints[0].Addresses, want.Endpoints[0].Addresses) ||
		!equality.Semantic.DeepEqual(slice.Ports, ports) || slice.Labels[discoveryv1.LabelServiceName] != key.Name {
		slice.Endpoints, slice.Ports = want.Endpoints, want.Ports
		slice.Labels = sliceLabels
		if err := c.Update(ctx, slice); err != nil {
			return fmt.Errorf("EndpointSlice %s: %w", key, err)
		}
	}
	return nil
}

// dnsKeeper makes the DNS Service again should it go or change while the
// syncer runs, at the address pods already point at.
type dnsKeeper struct {
	c  client.Client
	s  *Context
	ep Endpoint
}

func (k *dnsKeeper) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("dns")
	tick := time.NewTicker(dnsRecheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		ip, err := ensureDNSService(ctx, k.c, k.s, k.ep, k.s.DNSServer)
		switch {
		case err != nil:
			log.Error(err, "Cannot keep the DNS Service; pods may not resolve names")
		case ip != k.s.DNSServer:
			// Its old address was taken meanwhile. The syncer starts
			// again to point new pods at the new one; those made before
			// resolve nothing until they are made again.
			return fmt.Errorf("the DNS Service was made again at %s, not %s", ip, k.s.DNSServer)
		}
	}
}
