package pods

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
)

// ReasonLabel is the Event reason of a pod kept off the host for a label
// that means something there.
const ReasonLabel = "ForbiddenLabel"

// reservedLabelDomains are vfleet's: on the host its own objects carry and
// select by them, so a tenant's pod that carried them could pass for one.
var reservedLabelDomains = []string{"vfleet.dev"}

// checkLabels refuses a pod whose labels would make it something of
// vfleet's on the host: a label of vfleet's domains, or the label that
// selects the control plane's pod, which would route the vcluster's own
// API traffic to the tenant's pod.
func checkLabels(pod *corev1.Pod) error {
	var bad []string
	for k, v := range pod.Labels {
		prefix, _, hasPrefix := strings.Cut(k, "/")
		reserved := false
		for _, d := range reservedLabelDomains {
			reserved = reserved || hasPrefix && (prefix == d || strings.HasSuffix(prefix, "."+d))
		}
		if reserved || k == fleetv1.LabelControlPlaneApp && v == fleetv1.ControlPlaneAppValue {
			bad = append(bad, k+"="+v)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return &syncer.Refusal{Reason: ReasonLabel, Message: fmt.Sprintf(
		"the pod stays off the host: its labels %s are vfleet's on the host, where they select the vcluster's own objects: remove them",
		strings.Join(bad, ", "))}
}
