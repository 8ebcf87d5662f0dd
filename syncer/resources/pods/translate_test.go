package pods

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/syncer"
)

func testContext(policy fleetv1.IsolationPolicy) *syncer.Context {
	return &syncer.Context{
		HostNamespace: "vc-demo-x-team-a", VCluster: syncer.Identity{Name: "demo", Namespace: "team-a", UID: "uid-1"},
		Isolation: policy, APIServerHost: "10.1.2.3", APIServerPort: 6443, HostsFileImage: "vfleet:test",
	}
}

func testPod(edit ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "web:1"}}},
	}
	for _, e := range edit {
		e(p)
	}
	return p
}

// TestCheck: what keeps a pod off the host, and what its tenant is told.
func TestCheck(t *testing.T) {
	steering := fleetv1.IsolationPolicy{AllowedNodeLabels: []string{"example.com/gpu"}, NodeSelector: map[string]string{"pool": "tenants"}}
	for _, tc := range []struct {
		name   string
		policy fleetv1.IsolationPolicy
		pod    *corev1.Pod
		reason string // empty: allowed
		says   string
	}{
		{name: "a plain pod", pod: testPod()},
		{name: "user 0", pod: testPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To(int64(0))}
		}), reason: ReasonPolicy, says: "container main sets runAsUser: 0"},
		{name: "runAsNonRoot turned off for the pod", pod: testPod(func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(false)}
		}), reason: ReasonPolicy, says: "the pod sets runAsNonRoot: false"},
		{name: "user 0 where the class allows root", policy: fleetv1.IsolationPolicy{AllowRunAsRoot: true}, pod: testPod(func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(0))}
		})},
		{name: "a nodeSelector on a node's role", pod: testPod(func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"node-role.kubernetes.io/control-plane": ""}
		}), reason: ReasonSteering, says: "it chooses nodes by node-role.kubernetes.io/control-plane"},
		{name: "a preferred node affinity on another tenant's pool", pod: testPod(func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
				Weight: 1, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "tenant", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}},
			}}}}
		}), reason: ReasonSteering, says: "it chooses nodes by tenant"},
		{name: "a topology key the class does not know", pod: testPod(func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "rack", WhenUnsatisfiable: corev1.DoNotSchedule}}
		}), reason: ReasonSteering, says: "rack"},
		{name: "where labels and the class's own", policy: steering, pod: testPod(func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: "a", "example.com/gpu": "true", "pool": "tenants"}
		})},
		{name: "another value of a pinned label", policy: steering, pod: testPod(func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"pool": "system"}
		}), reason: ReasonSteering, says: "pool=system (the class keeps its pods on pool=tenants)"},
		{name: "an ephemeral claim that binds a host volume", policy: fleetv1.IsolationPolicy{AllowedVolumeTypes: []string{"ephemeral"}}, pod: testPod(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
				VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{
					VolumeName: "pv-of-another-tenant", DataSource: &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "db"},
				}},
			}}}}
		}), reason: ReasonVolume, says: `ephemeral volume "scratch" sets volumeName, dataSource`},
		{name: "a plain ephemeral claim", policy: fleetv1.IsolationPolicy{AllowedVolumeTypes: []string{"ephemeral"}}, pod: testPod(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
				VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("fast")}},
			}}}}
		})},
		{name: "a volume with two sources, which the API server would refuse", pod: testPod(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "both", VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: "s"}, HostPath: &corev1.HostPathVolumeSource{Path: "/"},
			}}}
		}), reason: ReasonVolume, says: "of type several"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := check(tc.policy, tc.pod)
			var refusal *syncer.Refusal
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.reason == "":
			case !errors.As(err, &refusal):
				t.Fatalf("got %v, want a refusal %s", err, tc.reason)
			case refusal.Reason != tc.reason || !strings.Contains(refusal.Message, tc.says):
				t.Fatalf("got %s: %s\nwant %s saying %q", refusal.Reason, refusal.Message, tc.reason, tc.says)
			}
		})
	}
}

// TestHostPod: what of a pod that passed reaches the host, and how.
func TestHostPod(t *testing.T) {
	policy := fleetv1.IsolationPolicy{
		NodeSelector:       map[string]string{"pool": "tenants"},
		AllowedTolerations: []fleetv1.AllowedToleration{{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}},
		AllowedVolumeTypes: []string{"csi"},
	}
	s := testContext(policy)
	virtual := testPod(func(p *corev1.Pod) {
		p.Labels["app.kubernetes.io/name"] = "vfleet-controlplane"
		p.Labels["fleet.vfleet.dev/virtualcluster-uid"] = "someone-else"
		p.Annotations = map[string]string{"k8s.v1.cni.cncf.io/networks": "host-net", "sidecar.istio.io/inject": "true"}
		p.Spec.Tolerations = []corev1.Toleration{
			{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "x", Effect: corev1.TaintEffectNoSchedule},
			{Operator: corev1.TolerationOpExists},
			{Key: "node.kubernetes.io/unschedulable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
			{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(int64(300))},
		}
		p.Spec.Volumes = []corev1.Volume{{Name: "vault", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
			Driver: "secrets-store.csi.k8s.io", NodePublishSecretRef: &corev1.LocalObjectReference{Name: "driver-creds"},
		}}}}
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{
			{TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, MatchLabelKeys: []string{"pod-template-hash"}},
			{TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, Namespaces: []string{"data"}},
			{TopologyKey: corev1.LabelHostname},
		}}}
	})
	if err := check(policy, virtual); err != nil {
		t.Fatal(err)
	}
	host := hostPod(s, virtual, nil)

	for k := range host.Labels {
		if !strings.HasPrefix(k, syncer.TenantLabelDomain+"/") {
			t.Errorf("label %s reached the host as the tenant wrote it", k)
		}
	}
	if got, want := host.Labels[syncer.HostLabelKey("app")], "web"; got != want {
		t.Errorf("label app is %q on the host, want %q", got, want)
	}
	if len(host.Annotations) != 0 {
		t.Errorf("annotations reached the host: %v", host.Annotations)
	}
	var tolerated []string
	for _, tol := range host.Spec.Tolerations {
		tolerated = append(tolerated, tol.Key)
	}
	if want := []string{"dedicated", corev1.TaintNodeNotReady}; strings.Join(tolerated, ",") != strings.Join(want, ",") {
		t.Errorf("host tolerations %q, want %q", tolerated, want)
	}
	if host.Spec.NodeSelector["pool"] != "tenants" {
		t.Errorf("the class's nodeSelector is not on the host copy: %v", host.Spec.NodeSelector)
	}
	if sc := host.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("the host copy may run as root: %+v", sc)
	}
	if got, want := host.Spec.Volumes[0].CSI.NodePublishSecretRef.Name, s.HostName("driver-creds", "app"); got != want {
		t.Errorf("the CSI driver's Secret is %q on the host, want the vcluster's %q", got, want)
	}
	terms := host.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	wantNS := func(term corev1.PodAffinityTerm, ns string) {
		t.Helper()
		if term.Namespaces != nil || term.NamespaceSelector != nil {
			t.Errorf("a term names host namespaces: %+v", term)
		}
		last := term.LabelSelector.MatchExpressions[len(term.LabelSelector.MatchExpressions)-1]
		if last.Key != syncer.LabelVirtualNamespace || strings.Join(last.Values, ",") != ns {
			t.Errorf("term selects in %+v, want virtual namespace %s", last, ns)
		}
	}
	wantNS(terms[0], "app")
	wantNS(terms[1], "data")
	if terms[0].MatchLabelKeys[0] != syncer.HostLabelKey("pod-template-hash") {
		t.Errorf("matchLabelKeys not carried under the host's keys: %v", terms[0].MatchLabelKeys)
	}
	if terms[2].LabelSelector != nil {
		t.Errorf("a term that selected no pod selects %v on the host", terms[2].LabelSelector)
	}
}

// TestNoVariableNamesTheHostsAPI: the host's kubelet gives every pod the
// variables of the host's kubernetes Service (port 443), service links on
// or off; the host copy sets each of them, to the vcluster's API, so that
// explicit variables win and none says the host's address.
func TestNoVariableNamesTheHostsAPI(t *testing.T) {
	hostAPI := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: corev1.ServiceSpec{
		ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}},
	}}
	s := testContext(fleetv1.IsolationPolicy{})
	pod := hostPod(s, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}, nil)
	set := map[string]string{}
	for _, e := range pod.Spec.Containers[0].Env {
		set[e.Name] = e.Value
	}
	for _, injected := range linkEnv(hostAPI) {
		got, ok := set[injected.Name]
		if !ok {
			t.Errorf("%s is not set: the host's kubelet would set it to %s", injected.Name, injected.Value)
			continue
		}
		if strings.Contains(got, "10.96.0.1") || (strings.HasSuffix(injected.Name, "_PORT") && got == "443") {
			t.Errorf("%s = %s names the host's API", injected.Name, got)
		}
	}
	if set["KUBERNETES_PORT_443_TCP"] != "tcp://10.1.2.3:6443" || set["KUBERNETES_SERVICE_HOST"] != "10.1.2.3" {
		t.Errorf("the API variables: %v", set)
	}
}

// TestUpdateHostDeadline: a deadline set or shortened on the virtual pod
// reaches its host copy, whose kubelet enforces it; none set leaves the
// host's alone.
func TestUpdateHostDeadline(t *testing.T) {
	for _, tc := range []struct {
		name          string
		desired, host *int64
		want          *int64
		wantChanged   bool
	}{
		{"set", ptr.To(int64(5)), nil, ptr.To(int64(5)), true},
		{"shortened", ptr.To(int64(5)), ptr.To(int64(30)), ptr.To(int64(5)), true},
		{"same", ptr.To(int64(5)), ptr.To(int64(5)), ptr.To(int64(5)), false},
		{"none", nil, nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &corev1.Pod{Spec: corev1.PodSpec{ActiveDeadlineSeconds: tc.desired}}
			e := &corev1.Pod{Spec: corev1.PodSpec{ActiveDeadlineSeconds: tc.host}}
			changed := (&Resource{}).UpdateHost(d, e)
			if changed != tc.wantChanged || !ptr.Equal(e.Spec.ActiveDeadlineSeconds, tc.want) {
				t.Fatalf("changed %v, deadline %v", changed, e.Spec.ActiveDeadlineSeconds)
			}
		})
	}
}

// TestObservedGenerations: the virtual pod shows its own generation as
// observed once the host's kubelet has observed its copy's current one,
// and keeps what it had while the kubelet lags.
func TestObservedGenerations(t *testing.T) {
	for _, tc := range []struct {
		name                          string
		hostGen, hostObserved, hadGen int64
		want                          int64
	}{
		{"caught up", 3, 3, 1, 5},
		{"lagging", 3, 2, 4, 4},
		{"nothing observed yet", 1, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Generation: tc.hostGen}}
			virtual := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Generation: 5}, Status: corev1.PodStatus{ObservedGeneration: tc.hadGen,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, ObservedGeneration: tc.hadGen}}}}
			status := corev1.PodStatus{ObservedGeneration: tc.hostObserved, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, ObservedGeneration: tc.hostObserved}}}
			observedGenerations(&status, host, virtual)
			if status.ObservedGeneration != tc.want || status.Conditions[0].ObservedGeneration != tc.want {
				t.Fatalf("observed %d, condition %d, want %d", status.ObservedGeneration, status.Conditions[0].ObservedGeneration, tc.want)
			}
		})
	}
}

// TestUpdateHostImages: an image changed on a running pod's container or
// init container reaches the host copy.
func TestUpdateHostImages(t *testing.T) {
	d := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i", Image: "new-init"}}, Containers: []corev1.Container{{Name: "c", Image: "new"}}}}
	e := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i", Image: "old-init"}}, Containers: []corev1.Container{{Name: "c", Image: "old"}}}}
	if !(&Resource{}).UpdateHost(d, e) || e.Spec.InitContainers[0].Image != "new-init" || e.Spec.Containers[0].Image != "new" {
		t.Fatalf("host copy: %+v", e.Spec)
	}
}

// TestUpdateHostResize: a resize of the virtual pod reaches the host copy
// through the resize subresource; a request only the host set (its
// LimitRange's default) stays, and an equal quantity written otherwise is
// no change.
func TestUpdateHostResize(t *testing.T) {
	q := resource.MustParse
	res := func(req, lim corev1.ResourceList) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: req, Limits: lim}
	}
	for _, tc := range []struct {
		name                string
		desired, host, want corev1.ResourceRequirements
		sub                 string
	}{
		{name: "the same", desired: res(corev1.ResourceList{"cpu": q("100m")}, nil), host: res(corev1.ResourceList{"cpu": q("100m")}, nil),
			want: res(corev1.ResourceList{"cpu": q("100m")}, nil)},
		{name: "equivalent quantities", desired: res(corev1.ResourceList{"cpu": q("1")}, nil), host: res(corev1.ResourceList{"cpu": q("1000m")}, nil),
			want: res(corev1.ResourceList{"cpu": q("1")}, nil)},
		{name: "a larger request", desired: res(corev1.ResourceList{"cpu": q("200m")}, nil), host: res(corev1.ResourceList{"cpu": q("100m")}, nil),
			want: res(corev1.ResourceList{"cpu": q("200m")}, nil), sub: "resize"},
		{name: "the host's default request stays", desired: res(corev1.ResourceList{"cpu": q("300m")}, nil),
			host: res(corev1.ResourceList{"cpu": q("100m"), "memory": q("128Mi")}, nil),
			want: res(corev1.ResourceList{"cpu": q("300m"), "memory": q("128Mi")}, nil), sub: "resize"},
		{name: "a limit added", desired: res(nil, corev1.ResourceList{"memory": q("1Gi")}), host: res(nil, nil),
			want: res(nil, corev1.ResourceList{"memory": q("1Gi")}), sub: "resize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: tc.desired}}}}
			e := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: tc.host}}}}
			if got := (&Resource{}).UpdateHostSubresource(d, e); got != tc.sub {
				t.Fatalf("subresource %q, want %q", got, tc.sub)
			}
			if got := e.Spec.Containers[0].Resources; !apiequality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("host resources %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPinToNode: a pod the tenant bound to a node itself is kept there by
// the host's scheduler, with every term it required still required.
func TestPinToNode(t *testing.T) {
	on := corev1.NodeSelectorRequirement{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{"node-1"}}
	zone := corev1.NodeSelectorRequirement{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}
	required := func(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
	}
	for _, tc := range []struct {
		name           string
		node           string
		affinity, want *corev1.Affinity
	}{
		{name: "not bound", affinity: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{zone}}),
			want: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{zone}})},
		{name: "bound, no affinity", node: "node-1", want: required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{on}})},
		{name: "bound, with terms of its own", node: "node-1",
			affinity: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{zone}}, corev1.NodeSelectorTerm{}),
			want: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{zone}, MatchFields: []corev1.NodeSelectorRequirement{on}},
				corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{on}})},
		{name: "bound, pod affinity only", node: "node-1", affinity: &corev1.Affinity{PodAffinity: &corev1.PodAffinity{}},
			want: &corev1.Affinity{PodAffinity: &corev1.PodAffinity{}, NodeAffinity: required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{on}}).NodeAffinity}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &corev1.PodSpec{Affinity: tc.affinity}
			pinToNode(spec, tc.node)
			if !apiequality.Semantic.DeepEqual(spec.Affinity, tc.want) {
				t.Errorf("affinity %+v, want %+v", spec.Affinity, tc.want)
			}
		})
	}
}

// TestEphemeralContainers: a pod's host copy is made without ephemeral
// containers (no pod may have them at create), and gets each new one
// through the subresource, after any resize.
func TestEphemeralContainers(t *testing.T) {
	debug := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "busybox"}}
	desired := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}, EphemeralContainers: []corev1.EphemeralContainer{debug}}}
	if created := (&Resource{}).ForCreate(desired).(*corev1.Pod); len(created.Spec.EphemeralContainers) != 0 || len(desired.Spec.EphemeralContainers) != 1 {
		t.Errorf("for create: %v, and desired has %v", created.Spec.EphemeralContainers, desired.Spec.EphemeralContainers)
	}
	host := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	desired.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	r := &Resource{}
	for _, want := range []string{"resize", "ephemeralcontainers", ""} {
		if got := r.UpdateHostSubresource(desired, host); got != want {
			t.Fatalf("subresource %q, want %q", got, want)
		}
	}
	if len(host.Spec.EphemeralContainers) != 1 || host.Spec.EphemeralContainers[0].Name != "debugger" {
		t.Errorf("host ephemeral containers %v", host.Spec.EphemeralContainers)
	}
}

// TestTenantResources: the container resources the host reports are
// shown as far as the tenant's spec names them: a default the host's
// LimitRange added is not.
func TestTenantResources(t *testing.T) {
	q := resource.MustParse
	spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{"cpu": q("2m")}, Limits: corev1.ResourceList{"cpu": q("10m")}}}}}
	status := &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
		Name:               "c",
		AllocatedResources: corev1.ResourceList{"cpu": q("2m"), "memory": q("128Mi")},
		Resources: &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{"cpu": q("2m"), "memory": q("128Mi")}, Limits: corev1.ResourceList{"cpu": q("10m")}},
	}, {Name: "sidecar-of-the-host", AllocatedResources: corev1.ResourceList{"memory": q("1Mi")}}}}
	tenantResources(status, spec)
	got := status.ContainerStatuses[0]
	if _, ok := got.AllocatedResources["memory"]; ok || len(got.AllocatedResources) != 1 {
		t.Errorf("allocated %v, want cpu only", got.AllocatedResources)
	}
	if _, ok := got.Resources.Requests["memory"]; ok || got.Resources.Limits.Cpu().Cmp(q("10m")) != 0 {
		t.Errorf("resources %+v, want the requests and limits the spec names", got.Resources)
	}
	if len(status.ContainerStatuses[1].AllocatedResources) != 1 {
		t.Errorf("a container the spec does not have: %v", status.ContainerStatuses[1].AllocatedResources)
	}
}
