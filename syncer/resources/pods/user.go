package pods

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
)

// checkUser refuses, unless the class lets containers run as root, a pod
// that asks for user 0 or turns runAsNonRoot off: root in a container is
// root on the host's kernel, one bug away from the node.
func checkUser(policy fleetv1.IsolationPolicy, pod *corev1.Pod) error {
	if policy.AllowRunAsRoot {
		return nil
	}
	var asks []string
	judge := func(where string, user *int64, nonRoot *bool) {
		switch {
		case user != nil && *user == 0:
			asks = append(asks, where+" sets runAsUser: 0")
		case nonRoot != nil && !*nonRoot:
			asks = append(asks, where+" sets runAsNonRoot: false")
		}
	}
	if sc := pod.Spec.SecurityContext; sc != nil {
		judge("the pod", sc.RunAsUser, sc.RunAsNonRoot)
	}
	for _, c := range allContainers(&pod.Spec) {
		if c.SecurityContext != nil {
			judge("container "+c.Name, c.SecurityContext.RunAsUser, c.SecurityContext.RunAsNonRoot)
		}
	}
	if len(asks) == 0 {
		return nil
	}
	return &syncer.Refusal{Reason: ReasonPolicy, Message: fmt.Sprintf(
		"the pod stays off the host: %s, and the vcluster's class does not let containers run as root: run as another user",
		strings.Join(asks, ", "))}
}

// hostUser makes the host copy run as a user other than root unless the
// class allows root: the kubelet then refuses an image whose user is root
// with a message that says so, rather than running it.
func hostUser(policy fleetv1.IsolationPolicy, spec *corev1.PodSpec) {
	if policy.AllowRunAsRoot {
		return
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	spec.SecurityContext.RunAsNonRoot = ptr.To(true)
}

// allContainers is every container of a pod spec, init and ephemeral ones
// included, as the fields checks read.
func allContainers(spec *corev1.PodSpec) []corev1.Container {
	out := append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...)
	for _, e := range spec.EphemeralContainers {
		out = append(out, corev1.Container(e.EphemeralContainerCommon))
	}
	return out
}
