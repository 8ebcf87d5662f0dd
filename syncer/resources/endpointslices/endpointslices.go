// Package endpointslices syncs the EndpointSlices a tenant writes by hand
// for its Services; those the vcluster's controllers derive (from pods, or
// mirrored from Endpoints) are derived again on the host.
package endpointslices

import (
	"context"
	"reflect"

	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/syncer"
)

// Resource syncs EndpointSlices.
type Resource struct{}

var (
	_ syncer.Resource = (*Resource)(nil)
	_ syncer.Wanted   = (*Resource)(nil)
)

// New returns the EndpointSlice resource.
func New() syncer.Resource { return &Resource{} }

func (*Resource) Kind() string             { return "EndpointSlice" }
func (*Resource) NewObject() client.Object { return &discoveryv1.EndpointSlice{} }

// Wanted: slices no Kubernetes controller manages.
func (*Resource) Wanted(_ context.Context, _ *syncer.Context, obj client.Object) (bool, error) {
	if syncer.IsAPIService(obj) {
		return false, nil
	}
	switch obj.GetLabels()[discoveryv1.LabelManagedBy] {
	case "endpointslice-controller.k8s.io", "endpointslicemirroring-controller.k8s.io":
		return false, nil
	}
	return true, nil
}

func (*Resource) ToHost(ctx context.Context, s *syncer.Context, obj client.Object) (client.Object, error) {
	v := obj.(*discoveryv1.EndpointSlice)
	var addrs []string
	for _, e := range v.Endpoints {
		addrs = append(addrs, e.Addresses...)
	}
	if err := s.CheckAddresses(ctx, addrs); err != nil {
		return nil, err
	}
	h := &discoveryv1.EndpointSlice{AddressType: v.AddressType, Ports: v.Ports, Endpoints: make([]discoveryv1.Endpoint, len(v.Endpoints))}
	for i, e := range v.Endpoints {
		h.Endpoints[i] = *e.DeepCopy()
		h.Endpoints[i].TargetRef, h.Endpoints[i].NodeName = nil, nil
	}
	h.Labels = syncer.HostLabels(v.Labels)
	if h.Labels == nil {
		h.Labels = map[string]string{}
	}
	// The slice belongs to the host copy of its Service.
	if svc := v.Labels[discoveryv1.LabelServiceName]; svc != "" {
		h.Labels[discoveryv1.LabelServiceName] = s.HostName(svc, v.Namespace)
	}
	return h, nil
}

func (*Resource) UpdateHost(desired, existing client.Object) bool {
	d, e := desired.(*discoveryv1.EndpointSlice), existing.(*discoveryv1.EndpointSlice)
	if reflect.DeepEqual(d.Endpoints, e.Endpoints) && reflect.DeepEqual(d.Ports, e.Ports) &&
		e.Labels[discoveryv1.LabelServiceName] == d.Labels[discoveryv1.LabelServiceName] {
		return false
	}
	e.Endpoints, e.Ports = d.Endpoints, d.Ports
	e.Labels[discoveryv1.LabelServiceName] = d.Labels[discoveryv1.LabelServiceName]
	return true
}

func (*Resource) ToVirtual(context.Context, *syncer.Context, client.Object, client.Object) error {
	return nil
}
