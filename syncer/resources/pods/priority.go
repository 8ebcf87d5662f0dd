package pods

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/syncer"
)

// hostPriorityClasses are the host's PriorityClasses the class allows,
// as the host has them; one the host lacks is left out.
func hostPriorityClasses(ctx context.Context, s *syncer.Context) ([]schedulingv1.PriorityClass, error) {
	var out []schedulingv1.PriorityClass
	for _, name := range s.Isolation.AllowedPriorityClasses {
		pc := &schedulingv1.PriorityClass{}
		switch err := s.Host.Get(ctx, client.ObjectKey{Name: name}, pc); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, err
		default:
			out = append(out, *pc)
		}
	}
	return out, nil
}

// hostPriority gives a host pod the allowed host class of the highest
// value at or below the virtual pod's priority (0 when it has none), or
// the lowest allowed class when none is: within the class's bounds, in the
// tenant's order. With no class allowed, the host's default holds.
func hostPriority(spec *corev1.PodSpec, priority *int32, classes []schedulingv1.PriorityClass) {
	if len(classes) == 0 {
		return
	}
	var p int32
	if priority != nil {
		p = *priority
	}
	var best, lowest *schedulingv1.PriorityClass
	for i := range classes {
		c := &classes[i]
		if lowest == nil || c.Value < lowest.Value {
			lowest = c
		}
		if c.Value <= p && (best == nil || c.Value > best.Value) {
			best = c
		}
	}
	if best == nil {
		best = lowest
	}
	spec.PriorityClassName = best.Name
}
