package pods

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
)

// TestHostsFile: the host copy's first init container writes /etc/hosts
// in the vcluster's names, and every container mounts it but one that
// mounts its own; nothing else of the pod changes.
func TestHostsFile(t *testing.T) {
	limits := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	}
	for _, tc := range []struct {
		name   string
		image  string
		pod    *corev1.Pod
		helper bool
		args   []string // of the helper, after "hosts-file"
		mounts []string // containers that mount the file, in order
	}{
		{name: "a pod", image: "vfleet:test", helper: true, pod: testPod(),
			args:   []string{"--out=/vfleet-hosts-file/hosts", "--hostname=web", "--alias=10.1.2.3=" + strings.Join(apiServerNames, ",")},
			mounts: []string{"main"}},
		{name: "hostname and subdomain", image: "vfleet:test", helper: true,
			pod: testPod(func(p *corev1.Pod) {
				p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db"
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "i"}}
				p.Spec.HostAliases = []corev1.HostAlias{{IP: "192.0.2.1", Hostnames: []string{"legacy"}}}
			}),
			args: []string{"--out=/vfleet-hosts-file/hosts", "--hostname=db-0", "--fqdn=db-0.db.app.svc.cluster.local",
				"--alias=192.0.2.1=legacy", "--alias=10.1.2.3=" + strings.Join(apiServerNames, ",")},
			mounts: []string{"init", "main"}},
		{name: "a container that mounts its own", image: "vfleet:test", helper: true,
			pod: testPod(func(p *corev1.Pod) {
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "own", Image: "o",
					VolumeMounts: []corev1.VolumeMount{{Name: "cm", MountPath: "/etc/hosts", SubPath: "hosts"}}})
				p.Spec.Volumes = []corev1.Volume{{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}}
			}),
			args:   []string{"--out=/vfleet-hosts-file/hosts", "--hostname=web", "--alias=10.1.2.3=" + strings.Join(apiServerNames, ",")},
			mounts: []string{"main"}},
		{name: "an ephemeral container keeps the kubelet's", image: "vfleet:test", helper: true,
			pod: testPod(func(p *corev1.Pod) {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
			}),
			args:   []string{"--out=/vfleet-hosts-file/hosts", "--hostname=web", "--alias=10.1.2.3=" + strings.Join(apiServerNames, ",")},
			mounts: []string{"main"}},
		{name: "a name not a label", image: "vfleet:test", helper: true, pod: testPod(func(p *corev1.Pod) { p.Name = "web.v1" }),
			args:   []string{"--out=/vfleet-hosts-file/hosts", "--hostname=" + testContext(fleetv1.IsolationPolicy{}).HostName("web.v1", "app"), "--alias=10.1.2.3=" + strings.Join(apiServerNames, ",")},
			mounts: []string{"main"}},
		{name: "no image", pod: testPod()},
		{name: "Windows", image: "vfleet:test", pod: testPod(func(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: corev1.Windows} })},
		{name: "the tenant took the name", image: "vfleet:test", pod: testPod(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: syncer.HostsFileContainer, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.pod.Spec.Containers[0].Resources = limits
			s := testContext(fleetv1.IsolationPolicy{})
			s.HostsFileImage = tc.image
			host := hostPod(s, tc.pod, nil)
			var mounted []string
			for _, c := range allContainers(&host.Spec) {
				if slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == hostsFileVolume && m.MountPath == etcHosts }) {
					mounted = append(mounted, c.Name)
				}
			}
			if strings.Join(mounted, ",") != strings.Join(tc.mounts, ",") {
				t.Errorf("containers that mount the file: %q, want %q", mounted, tc.mounts)
			}
			if got := tenantInit(&host.Spec); len(got) != len(tc.pod.Spec.InitContainers) {
				t.Errorf("%d tenant init containers on the host, want %d", len(got), len(tc.pod.Spec.InitContainers))
			}
			if !tc.helper {
				if len(host.Spec.InitContainers) > 0 && host.Spec.InitContainers[0].Name == syncer.HostsFileContainer {
					t.Fatal("the host copy has the helper")
				}
				return
			}
			h := host.Spec.InitContainers[0]
			if h.Name != syncer.HostsFileContainer || h.Image != tc.image || h.Args[0] != "hosts-file" {
				t.Fatalf("first init container %s %s %q, want the helper", h.Name, h.Image, h.Args)
			}
			if got := h.Args[1:]; strings.Join(got, " ") != strings.Join(tc.args, " ") {
				t.Errorf("helper args\n%q\nwant\n%q", got, tc.args)
			}
			if !apiequality.Semantic.DeepEqual(h.Resources, limits) {
				t.Errorf("helper resources %v, want the first container's %v: the pod's QoS class and requests stay", h.Resources, limits)
			}
			if sc := h.SecurityContext; sc == nil || *sc.RunAsUser == 0 || !*sc.RunAsNonRoot || *sc.AllowPrivilegeEscalation {
				t.Errorf("helper security context %+v, want a restricted non-root one", sc)
			}
			if h.Env[0].ValueFrom.FieldRef.FieldPath != "status.podIPs" {
				t.Errorf("helper env %+v, want the pod's IPs", h.Env)
			}
		})
	}
}

// The hosts file's init container is the host copy's alone: an image or
// a resize of the tenant's init containers lines up with theirs, not it.
func TestHostsFileUpdates(t *testing.T) {
	s := testContext(fleetv1.IsolationPolicy{})
	virtual := testPod(func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "old"}} })
	existing := hostPod(s, virtual, nil)
	virtual.Spec.InitContainers[0].Image = "new"
	desired := hostPod(s, virtual, nil)
	desired.Spec.InitContainers[0].Image = "vfleet:upgraded"
	if !(&Resource{}).UpdateHost(desired, existing) {
		t.Fatal("no change carried")
	}
	if got := existing.Spec.InitContainers; got[0].Image != "vfleet:test" || got[1].Image != "new" {
		t.Errorf("init images %s %s, want the helper's as made and the tenant's new one", got[0].Image, got[1].Image)
	}
	// A host copy made before the helper was.
	s.HostsFileImage = ""
	old := hostPod(s, virtual, nil)
	old.Spec.InitContainers[0].Image = "old"
	if !(&Resource{}).UpdateHost(desired, old) || old.Spec.InitContainers[0].Image != "new" {
		t.Errorf("init container of a copy without the helper: %+v", old.Spec.InitContainers)
	}
}
