package pods

import (
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
)

// ReasonPolicy is the Event reason of a pod the isolation policy keeps
// off the host.
const ReasonPolicy = "ForbiddenByIsolationPolicy"

var (
	evaluatorOnce sync.Once
	evaluator     psapolicy.Evaluator
	evaluatorErr  error
)

// checkPolicy enforces the vcluster's Pod Security level when the pod is
// synced, with the checks of Kubernetes' own Pod Security admission. The
// tenant is admin of its vcluster and could turn admission off there; the
// host is not its to weaken.
func checkPolicy(policy fleetv1.IsolationPolicy, pod *corev1.Pod) error {
	evaluatorOnce.Do(func() {
		evaluator, evaluatorErr = psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	})
	if evaluatorErr != nil {
		return evaluatorErr
	}
	level := psaapi.LevelBaseline
	if policy.PodSecurity == fleetv1.PodSecurityRestricted {
		level = psaapi.LevelRestricted
	}
	lv := psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()}
	result := psapolicy.AggregateCheckResults(evaluator.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec))
	if result.Allowed {
		return checkPrivilegeEscalation(pod)
	}
	return &syncer.Refusal{Reason: ReasonPolicy, Message: fmt.Sprintf(
		"the pod stays off the host: it violates the vcluster's Pod Security level %q: %s (%s)",
		strings.ToLower(string(level)), result.ForbiddenReason(), result.ForbiddenDetail())}
}

// checkPrivilegeEscalation refuses a container that asks to gain more
// privileges than its process started with. Baseline lets that pass;
// the Multi-Tenancy Benchmarks' first level, which every vcluster meets,
// does not: a setuid binary must not take a tenant's process to root on
// the host's kernel. Restricted refuses it already, with its own message.
func checkPrivilegeEscalation(pod *corev1.Pod) error {
	escalates := func(sc *corev1.SecurityContext) bool {
		return sc != nil && sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation
	}
	var names []string
	for _, c := range allContainers(&pod.Spec) {
		if escalates(c.SecurityContext) {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return &syncer.Refusal{Reason: ReasonPolicy, Message: fmt.Sprintf(
		"the pod stays off the host: container %s sets securityContext.allowPrivilegeEscalation=true, which no vcluster may: remove it or set it to false",
		strings.Join(names, ", "))}
}
