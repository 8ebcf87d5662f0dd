package pods

import (
	"context"
	"net"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/syncer/podrefs"
)

// Names the vcluster's API answers to inside the cluster.
var apiServerNames = []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}

// translate builds the host copy of a virtual pod, with what it needs from
// the virtual API: its Services' variables. Its service account's token
// is put in a host Secret once the host pod exists (ensureToken).
func translate(ctx context.Context, s *syncer.Context, virtual *corev1.Pod) (*corev1.Pod, error) {
	serviceEnv, err := serviceLinks(ctx, s, virtual)
	if err != nil {
		return nil, err
	}
	classes, err := hostPriorityClasses(ctx, s)
	if err != nil {
		return nil, err
	}
	host := hostPod(s, virtual, serviceEnv)
	hostPriority(&host.Spec, virtual.Spec.Priority, classes)
	return host, nil
}

// hostPod is the host copy of a virtual pod that passed the checks: the
// same containers and scheduling constraints, with every name it refers to
// translated to the host's, what ties a pod to its cluster (service
// account, API address, service links) pointed at the vcluster instead of
// the host, and the class's scheduling and user rules applied. It reads
// nothing but s's settings, so that a fuzz test can hold it to the policy.
func hostPod(s *syncer.Context, virtual *corev1.Pod, serviceEnv []corev1.EnvVar) *corev1.Pod {
	spec := virtual.Spec.DeepCopy()

	// The host schedules (onto the node the pod was bound to, if it was):
	// the vcluster has no scheduler, and its priority classes mean nothing
	// there (the host's admission would refuse a priority given without
	// one of its own classes); hostPriority gives one of the host's that
	// the class allows.
	pinToNode(spec, spec.NodeName)
	spec.NodeName = ""
	spec.SchedulerName = ""
	spec.PriorityClassName, spec.Priority, spec.PreemptionPolicy = "", nil, nil
	spec.RuntimeClassName, spec.Overhead = nil, nil
	// Every name is the vcluster's, even one that looks like a host
	// name: the token's Secret is put in below, after the walk.
	podrefs.Walk(spec, func(kind podrefs.Kind, name *string) {
		// An empty name names nothing; the API server says so if it must.
		if *name != "" {
			*name = s.HostName(*name, virtual.Namespace)
		}
	})
	// The host's default account, with no token: the pod's token is the
	// vcluster's, mounted from the Secret ensureToken keeps.
	for i, v := range spec.Volumes {
		if v.Projected != nil && podrefs.ServiceAccountTokenVolume(v.Projected) {
			spec.Volumes[i].VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: tokenSecretName(s, virtual), DefaultMode: v.Projected.DefaultMode,
			}}
		}
	}
	// Read before the account goes: the downward API gives the tenant's.
	downwardValues := downward(spec, virtual)
	spec.ServiceAccountName, spec.DeprecatedServiceAccount = "", ""
	spec.AutomountServiceAccountToken = ptr.To(false)

	if spec.Subdomain != "" {
		spec.Subdomain = s.HostName(spec.Subdomain, virtual.Namespace)
	}
	// The pod calls itself by its virtual name.
	if spec.Hostname == "" && len(validation.IsDNS1123Label(virtual.Name)) == 0 {
		spec.Hostname = virtual.Name
	}
	hostVolumeClaimTemplates(spec)
	hostScheduling(s.Isolation, spec, virtual.Namespace)
	hostUser(s.Isolation, spec)

	// The API and the Services the pod sees are the vcluster's.
	spec.EnableServiceLinks = ptr.To(false)
	apiEnv := apiServerEnv(s)
	for i := range spec.InitContainers {
		spec.InitContainers[i].Env = withEnv(spec.InitContainers[i].Env, apiEnv, serviceEnv)
	}
	for i := range spec.Containers {
		spec.Containers[i].Env = withEnv(spec.Containers[i].Env, apiEnv, serviceEnv)
	}
	for i := range spec.EphemeralContainers {
		spec.EphemeralContainers[i].Env = withEnv(spec.EphemeralContainers[i].Env, apiEnv, serviceEnv)
	}
	if ip := net.ParseIP(s.APIServerHost); ip != nil {
		spec.HostAliases = append(spec.HostAliases, corev1.HostAlias{IP: s.APIServerHost, Hostnames: apiServerNames})
	}
	hostDNS(s.DNSServer, spec, virtual.Namespace)
	withHostsFile(s.HostsFileImage, spec, virtual, s.HostName(virtual.Name, virtual.Namespace))

	// The tenant's labels are carried under vfleet's keys; its annotations
	// stay in the vcluster, but for the values its downward API fields
	// read, under vfleet's. On the host either could mean something to
	// whatever reads them there: a CNI, a mesh, a scraper, the runtime.
	host := &corev1.Pod{Spec: *spec}
	if len(downwardValues) > 0 {
		host.Annotations = downwardValues
	}
	host.Labels = syncer.HostLabels(virtual.Labels)
	return host
}

// hostVolumeClaimTemplates carries the labels of generic ephemeral
// volumes' claims under vfleet's keys, and drops their annotations: the
// host's ephemeral volume controller copies both to the claims it makes.
func hostVolumeClaimTemplates(spec *corev1.PodSpec) {
	for _, v := range spec.Volumes {
		if v.Ephemeral != nil && v.Ephemeral.VolumeClaimTemplate != nil {
			meta := &v.Ephemeral.VolumeClaimTemplate.ObjectMeta
			meta.Labels, meta.Annotations = syncer.HostLabels(meta.Labels), nil
		}
	}
}
