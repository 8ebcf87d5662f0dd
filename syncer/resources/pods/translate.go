package pods

import (
	"context"
	"maps"
	"net"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/syncer/podrefs"
)

// Names the vcluster's API answers to inside the cluster.
var apiServerNames = []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}

// translate builds the host copy of a virtual pod: the same containers
// and scheduling constraints, with every name it refers to translated to
// the host's, and what ties a pod to its cluster (service account, API
// address, service links) pointed at the vcluster instead of the host.
func translate(ctx context.Context, s *syncer.Context, virtual *corev1.Pod) (*corev1.Pod, error) {
	spec := virtual.Spec.DeepCopy()

	// The host schedules: the vcluster has no scheduler, and its priority
	// classes mean nothing there (the host's admission would refuse a
	// priority given without one of its own classes).
	spec.NodeName = ""
	spec.SchedulerName = ""
	spec.PriorityClassName, spec.Priority, spec.PreemptionPolicy = "", nil, nil
	spec.RuntimeClassName, spec.Overhead = nil, nil
	// The host's default account, with no token: the pod's token is the
	// vcluster's, mounted from a Secret below.
	tokenVolume := ""
	for i, v := range spec.Volumes {
		if v.Projected != nil && podrefs.ServiceAccountTokenVolume(v.Projected) {
			tokenVolume = v.Name
			spec.Volumes[i].VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: tokenSecretName(s, virtual), DefaultMode: v.Projected.DefaultMode,
			}}
		}
	}
	if tokenVolume != "" {
		if err := ensureToken(ctx, s, virtual); err != nil {
			return nil, err
		}
	}
	spec.ServiceAccountName, spec.DeprecatedServiceAccount = "", ""
	spec.AutomountServiceAccountToken = ptr.To(false)

	podrefs.Walk(spec, func(kind podrefs.Kind, name *string) {
		if *name == tokenSecretName(s, virtual) {
			return
		}
		*name = s.HostName(*name, virtual.Namespace)
	})
	if spec.Subdomain != "" {
		spec.Subdomain = s.HostName(spec.Subdomain, virtual.Namespace)
	}
	// The pod calls itself by its virtual name.
	if spec.Hostname == "" && len(validation.IsDNS1123Label(virtual.Name)) == 0 {
		spec.Hostname = virtual.Name
	}
	for _, terms := range affinityTerms(spec.Affinity) {
		for i := range terms {
			// Namespaces are the vcluster's; on the host all its pods share one.
			terms[i].Namespaces, terms[i].NamespaceSelector = nil, nil
		}
	}

	// The API and the Services the pod sees are the vcluster's.
	serviceEnv, err := serviceLinks(ctx, s, virtual)
	if err != nil {
		return nil, err
	}
	spec.EnableServiceLinks = ptr.To(false)
	apiEnv := apiServerEnv(s)
	for i := range spec.InitContainers {
		spec.InitContainers[i].Env = withEnv(spec.InitContainers[i].Env, apiEnv, serviceEnv)
	}
	for i := range spec.Containers {
		spec.Containers[i].Env = withEnv(spec.Containers[i].Env, apiEnv, serviceEnv)
	}
	if ip := net.ParseIP(s.APIServerHost); ip != nil {
		spec.HostAliases = append(spec.HostAliases, corev1.HostAlias{IP: s.APIServerHost, Hostnames: apiServerNames})
	}

	host := &corev1.Pod{Spec: *spec}
	host.Labels = maps.Clone(virtual.Labels)
	host.Annotations = maps.Clone(virtual.Annotations)
	return host, nil
}

// affinityTerms returns the pod (anti-)affinity terms of a, to edit in place.
func affinityTerms(a *corev1.Affinity) [][]corev1.PodAffinityTerm {
	if a == nil {
		return nil
	}
	var out [][]corev1.PodAffinityTerm
	weighted := func(w []corev1.WeightedPodAffinityTerm) {
		terms := make([]corev1.PodAffinityTerm, 0, len(w))
		for i := range w {
			terms = append(terms, w[i].PodAffinityTerm)
		}
		out = append(out, terms)
		for i := range w {
			w[i].PodAffinityTerm.Namespaces, w[i].PodAffinityTerm.NamespaceSelector = nil, nil
		}
	}
	if a.PodAffinity != nil {
		out = append(out, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
		weighted(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	if a.PodAntiAffinity != nil {
		out = append(out, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
		weighted(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	return out
}
