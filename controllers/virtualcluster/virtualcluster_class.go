package virtualcluster

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/placement"
	"github.com/vfleet/vfleet/placement/framework"
)

// builtinClass is the policy of a vcluster that names no class when the
// admin has made no default one: the safest, so that forgetting to make a
// class opens nothing.
var builtinClass = fleetv1.VirtualClusterClassSpec{
	Isolation: fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityBaseline},
}

// classError is a vcluster its class does not admit, with what to fix.
type classError struct {
	reason, message string
}

func (e *classError) Error() string { return e.message }

// classOf returns the policy vc runs under: its class's, else the default
// class's, else builtinClass.
func (r *Reconciler) classOf(ctx context.Context, vc *fleetv1.VirtualCluster) (fleetv1.VirtualClusterClassSpec, error) {
	name := className(vc)
	class := &fleetv1.VirtualClusterClass{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: name}, class)
	switch {
	case err == nil:
		spec := class.Spec
		if spec.Isolation.PodSecurity == "" {
			spec.Isolation.PodSecurity = fleetv1.PodSecurityBaseline
		}
		return spec, nil
	case apierrors.IsNotFound(err) && vc.Spec.ClassName == "":
		return builtinClass, nil
	case apierrors.IsNotFound(err):
		return fleetv1.VirtualClusterClassSpec{}, &classError{reason: fleetv1.ReasonClassNotFound, message: fmt.Sprintf(
			"VirtualClusterClass %q does not exist: name one that does (kubectl get virtualclusterclasses), or leave className empty for the default", name)}
	}
	return fleetv1.VirtualClusterClassSpec{}, err
}

// className is the name of the class vc runs under.
func className(vc *fleetv1.VirtualCluster) string {
	if vc.Spec.ClassName == "" {
		return fleetv1.DefaultClassName
	}
	return vc.Spec.ClassName
}

// admit says whether class admits vc, and if not, all of what to fix.
func admit(vc *fleetv1.VirtualCluster, class fleetv1.VirtualClusterClassSpec) error {
	v := violations(vc.Spec, class)
	if len(v) == 0 {
		return nil
	}
	return &classError{reason: fleetv1.ReasonForbiddenByClass, message: fmt.Sprintf(
		"VirtualClusterClass %q does not allow %s: change the spec, pick another class, or ask an admin to widen this one",
		className(vc), strings.Join(v, "; "))}
}

// violations lists what of spec the class does not allow.
func violations(spec fleetv1.VirtualClusterSpec, class fleetv1.VirtualClusterClassSpec) []string {
	var v []string
	if st := spec.BackingStore; st.Type == fleetv1.BackingStoreExternal && !slices.Contains(class.AllowedStores, st.Name) {
		v = append(v, fmt.Sprintf("BackingStore %q (allowed: %s)", st.Name, orNone(class.AllowedStores)))
	}
	if allowed := class.AllowedRegions; len(allowed) > 0 {
		for _, region := range spec.Placement.Regions {
			if !slices.Contains(allowed, region) {
				v = append(v, fmt.Sprintf("region %q (allowed: %s)", region, orNone(allowed)))
			}
		}
	}
	for _, t := range spec.Placement.Tolerations {
		if !fleetv1.TolerationAllowed(t.Key, string(t.Effect), class.AllowedTolerations) {
			v = append(v, fmt.Sprintf("a toleration of taint %q (allowed: %s)", taintName(t.Key, string(t.Effect)), allowedTaints(class.AllowedTolerations)))
		}
	}
	return append(v, overCeiling(spec.Resources, class.MaxResources)...)
}

// overCeiling lists the resources above the class's ceiling.
func overCeiling(r fleetv1.Resources, max fleetv1.ResourceCeiling) []string {
	var v []string
	if max.CPU != nil && r.CPU.Cmp(*max.CPU) > 0 {
		v = append(v, fmt.Sprintf("cpu %s (at most %s)", r.CPU.String(), max.CPU.String()))
	}
	if max.Memory != nil && r.Memory.Cmp(*max.Memory) > 0 {
		v = append(v, fmt.Sprintf("memory %s (at most %s)", r.Memory.String(), max.Memory.String()))
	}
	if max.Pods != nil && r.Pods > *max.Pods {
		v = append(v, fmt.Sprintf("pods %d (at most %d)", r.Pods, *max.Pods))
	}
	if max.Storage != nil {
		if r.Storage == nil {
			v = append(v, fmt.Sprintf("unbounded storage (at most %s: set resources.storage)", max.Storage.String()))
		} else if r.Storage.Cmp(*max.Storage) > 0 {
			v = append(v, fmt.Sprintf("storage %s (at most %s)", r.Storage.String(), max.Storage.String()))
		}
	}
	return v
}

// placementView is vc as placement sees it under class: one that names no
// regions may run only in the class's.
func placementView(vc *fleetv1.VirtualCluster, class fleetv1.VirtualClusterClassSpec) *fleetv1.VirtualCluster {
	if len(vc.Spec.Placement.Regions) > 0 || len(class.AllowedRegions) == 0 {
		return vc
	}
	view := vc.DeepCopy()
	view.Spec.Placement.Regions = class.AllowedRegions
	return view
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func taintName(key, effect string) string {
	if key == "" {
		key = "*"
	}
	if effect == "" {
		return key
	}
	return key + ":" + effect
}

func allowedTaints(allowed []fleetv1.AllowedToleration) string {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = taintName(a.Key, string(a.Effect))
	}
	return orNone(names)
}

// requestFor is the placement request of vc under its class.
func (r *Reconciler) requestFor(ctx context.Context, vc *fleetv1.VirtualCluster) (*framework.Request, error) {
	class, err := r.classOf(ctx, vc)
	if err != nil {
		return nil, err
	}
	return placement.RequestFor(placementView(vc, class), r.Overhead)
}
