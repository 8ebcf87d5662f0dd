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
		return nil
	}
	return &syncer.Refusal{Reason: ReasonPolicy, Message: fmt.Sprintf(
		"the pod stays off the host: it violates the vcluster's Pod Security level %q: %s (%s)",
		strings.ToLower(string(level)), result.ForbiddenReason(), result.ForbiddenDetail())}
}
