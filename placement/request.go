package placement

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/overhead"
	"github.com/vfleet/vfleet/placement/framework"
)

// Overhead is what running one control plane costs a host beyond the
// vcluster's quota. The agent counts the same in HostCluster.status.committed.
type Overhead = framework.Resources

// DefaultOverhead is the hub's and the agent's default overhead.
var DefaultOverhead = Overhead{
	MilliCPU: quantity(resource.MustParse(overhead.DefaultCPU)).MilliValue(),
	Memory:   quantity(resource.MustParse(overhead.DefaultMemory)).Value(),
}

// RequestFor resolves a VirtualCluster into a placement request.
func RequestFor(vc *fleetv1.VirtualCluster, overhead Overhead) (*framework.Request, error) {
	req := baseRequest(vc, vc.Spec.Resources, overhead)
	if sel := vc.Spec.Placement.HostSelector; sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return nil, fmt.Errorf("placement.hostSelector: %w", err)
		}
		req.Selector = s
	}
	return req, nil
}

// ReservationFor is the ledger's entry of a placed vcluster: what its
// host holds for it (status.reserved, or the spec's resources for one
// placed before the hub recorded them). It never fails: a spec that no
// longer makes a request must not drop a reservation of a vcluster that
// runs.
func ReservationFor(vc *fleetv1.VirtualCluster, overhead Overhead) *framework.Request {
	res := vc.Spec.Resources
	if vc.Status.Reserved != nil {
		res = *vc.Status.Reserved
	}
	return baseRequest(vc, res, overhead)
}

// baseRequest is the request of vc for res, without its host selector.
func baseRequest(vc *fleetv1.VirtualCluster, res fleetv1.Resources, overhead Overhead) *framework.Request {
	spec := &vc.Spec
	req := &framework.Request{
		Key:         vc.Namespace + "/" + vc.Name,
		UID:         vc.UID,
		Labels:      vc.Labels,
		Version:     spec.KubernetesVersion,
		Regions:     set(spec.Placement.Regions),
		Zones:       set(spec.Placement.Zones),
		Tolerations: spec.Placement.Tolerations,
		Strategy:    spec.Placement.Strategy,
		CurrentHost: vc.Status.Host,
		Resources: framework.Resources{
			MilliCPU: quantity(res.CPU).MilliValue(),
			Memory:   quantity(res.Memory).Value(),
			Pods:     int64(res.Pods),
		}.Add(overhead),
	}
	if spec.BackingStore.Type == fleetv1.BackingStoreExternal {
		req.Store = spec.BackingStore.Name
		if spec.Failover.Mode != fleetv1.FailoverManual {
			req.FailoverAfter = FailoverAfter(vc)
		}
	}
	if aa := spec.Placement.AntiAffinity; aa != nil {
		req.AntiAffinity = aa
		if v, ok := vc.Labels[aa.LabelKey]; ok {
			req.Group = aa.LabelKey + "=" + v
		}
	}
	return req
}

// FailoverAfter is how long vc's host may be silent before the vcluster
// fails over: spec.failover.afterSeconds, or its default.
func FailoverAfter(vc *fleetv1.VirtualCluster) time.Duration {
	if s := vc.Spec.Failover.AfterSeconds; s > 0 {
		return time.Duration(s) * time.Second
	}
	return DefaultFailoverAfter
}

// DefaultFailoverAfter is spec.failover.afterSeconds' default.
const DefaultFailoverAfter = 15 * time.Second

func quantity(q resource.Quantity) *resource.Quantity { return &q }

func set(items []string) map[string]bool {
	if len(items) == 0 {
		return nil
	}
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}
