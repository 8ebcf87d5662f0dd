// Package pdbs syncs the vcluster's PodDisruptionBudgets to its host, so
// that the host's evictions (a node drained, a pod preempted) respect
// them. Their status stays the vcluster's own: its controller-manager
// counts the vcluster's pods, whose status is the host pods'.
package pdbs

import (
	"context"

	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/syncer"
)

// Resource syncs PodDisruptionBudgets.
type Resource struct{ syncer.NoStatus }

var _ syncer.Resource = (*Resource)(nil)

// New returns the PodDisruptionBudget resource.
func New() syncer.Resource { return &Resource{} }

func (*Resource) Kind() string             { return "PodDisruptionBudget" }
func (*Resource) NewObject() client.Object { return &policyv1.PodDisruptionBudget{} }

// ToHost selects the host copies of the pods the budget selects, in its
// own virtual namespace only.
func (*Resource) ToHost(_ context.Context, _ *syncer.Context, obj client.Object) (client.Object, error) {
	v := obj.(*policyv1.PodDisruptionBudget)
	h := &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable:               v.Spec.MinAvailable,
		MaxUnavailable:             v.Spec.MaxUnavailable,
		Selector:                   syncer.HostPodSelector(v.Spec.Selector, v.Namespace),
		UnhealthyPodEvictionPolicy: v.Spec.UnhealthyPodEvictionPolicy,
	}}
	h.Labels = syncer.HostLabels(v.Labels)
	return h, nil
}

func (*Resource) UpdateHost(desired, existing client.Object) bool {
	return syncer.UpdateSpec(&desired.(*policyv1.PodDisruptionBudget).Spec, &existing.(*policyv1.PodDisruptionBudget).Spec)
}
