package pods

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/syncer/hostsfile"
)

const (
	etcHosts = "/etc/hosts"
	// hostsFileVolume holds the file the init container writes.
	hostsFileVolume = syncer.HostsFileContainer
	hostsFileDir    = "/vfleet-hosts-file"
	hostsFileName   = "hosts"
	// The user the init container runs as: the vfleet image's, never
	// root, whatever the class allows.
	hostsFileUser = 65532
)

// withHostsFile gives the host copy spec of virtual an init container,
// first of all, that writes the pod's /etc/hosts as a kubelet of the
// vcluster would (hostsfile), and mounts that file in each container that
// does not mount its own /etc/hosts, as the kubelet mounts its: the host's
// kubelet would name the host copy there. Ephemeral containers are left
// the kubelet's: the API refuses them a subPath. hostName is the host copy's
// name. With no image, a Windows pod, or a tenant container or volume of
// the helper's name, the host's kubelet writes the file.
func withHostsFile(image string, spec *corev1.PodSpec, virtual *corev1.Pod, hostName string) {
	if image == "" || (spec.OS != nil && spec.OS.Name == corev1.Windows) || len(spec.Containers) == 0 {
		return
	}
	taken := func(name string) bool {
		return slices.ContainsFunc(allContainers(spec), func(c corev1.Container) bool { return c.Name == name }) ||
			slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == name })
	}
	if taken(syncer.HostsFileContainer) {
		return
	}
	mount := corev1.VolumeMount{Name: hostsFileVolume, MountPath: etcHosts, SubPath: hostsFileName}
	mountIn := func(mounts []corev1.VolumeMount) []corev1.VolumeMount {
		if slices.ContainsFunc(mounts, func(m corev1.VolumeMount) bool { return m.MountPath == etcHosts }) {
			return mounts
		}
		return append(mounts, mount)
	}
	for i := range spec.InitContainers {
		spec.InitContainers[i].VolumeMounts = mountIn(spec.InitContainers[i].VolumeMounts)
	}
	for i := range spec.Containers {
		spec.Containers[i].VolumeMounts = mountIn(spec.Containers[i].VolumeMounts)
	}
	// An ephemeral container may not mount a subPath: it keeps the
	// kubelet's file, which names the host copy (`kubectl debug` only).
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: hostsFileVolume, VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("1Mi"))},
	}})
	helper := corev1.Container{
		Name:  syncer.HostsFileContainer,
		Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
		Args: append([]string{"hosts-file"}, hostsfile.Args(hostsFileDir+"/"+hostsFileName, podHostsEntries(spec, virtual, hostName))...),
		Env: []corev1.EnvVar{{Name: hostsfile.PodIPsEnv, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIPs"},
		}}},
		VolumeMounts: []corev1.VolumeMount{{Name: hostsFileVolume, MountPath: hostsFileDir}},
		// The first app container's: an init container's requests count
		// as the largest of theirs and the app containers' sum, so the
		// pod asks for no more, and keeps its QoS class, and fits any
		// pod-level resources, as that container does.
		Resources: *spec.Containers[0].Resources.DeepCopy(),
		SecurityContext: &corev1.SecurityContext{
			RunAsUser: ptr.To[int64](hostsFileUser), RunAsGroup: ptr.To[int64](hostsFileUser), RunAsNonRoot: ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true), Privileged: ptr.To(false),
			Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	spec.InitContainers = append([]corev1.Container{helper}, spec.InitContainers...)
}

// podHostsEntries are the names a kubelet of the vcluster writes for the
// pod: its hostname (the one the host's kubelet gives it, from the spec or
// the host copy's name, cut to a label's length), and under a subdomain,
// its name in the vcluster's DNS; then its host aliases.
func podHostsEntries(spec *corev1.PodSpec, virtual *corev1.Pod, hostName string) hostsfile.Entries {
	e := hostsfile.Entries{Hostname: spec.Hostname, Aliases: spec.HostAliases}
	if e.Hostname == "" {
		e.Hostname = strings.TrimRight(hostName[:min(len(hostName), 63)], "-.")
	}
	if virtual.Spec.Subdomain != "" {
		e.FQDN = e.Hostname + "." + virtual.Spec.Subdomain + "." + virtual.Namespace + ".svc.cluster.local"
	}
	return e
}

// tenantInit is the init containers of a host pod's spec but the hosts
// file's, which the tenant's pod does not have; it shares spec's array.
func tenantInit(spec *corev1.PodSpec) []corev1.Container {
	if len(spec.InitContainers) > 0 && spec.InitContainers[0].Name == syncer.HostsFileContainer {
		return spec.InitContainers[1:]
	}
	return spec.InitContainers
}
