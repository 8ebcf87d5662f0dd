package syncer_test

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/names"
	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/syncer/resources"
	"github.com/vfleet/vfleet/test/envtest"
)

// Two real API servers: the vcluster's and its host's.
var (
	virtualCfg, hostCfg *rest.Config
	virtualC, hostC     client.Client
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	envtest.Main(m,
		envtest.Suite{Setup: func(e envtest.Env) (func(), error) {
			virtualCfg, virtualC = e.Config, e.Client
			return nil, nil
		}},
		envtest.Suite{Setup: func(e envtest.Env) (func(), error) {
			hostCfg, hostC = e.Config, e.Client
			return nil, nil
		}},
	)
}

var cases atomic.Int32

// world is one case's vcluster: its identity, its namespace in the virtual
// cluster and its namespace on the host.
type world struct {
	n         int32
	vc        syncer.Identity
	namespace string // virtual
	hostNS    string
}

func newWorld(t *testing.T) world {
	n := cases.Add(1)
	w := world{
		n:         n,
		vc:        syncer.Identity{Name: fmt.Sprintf("vc%d", n), Namespace: "tenants", UID: fmt.Sprintf("uid-vc%d", n)},
		namespace: fmt.Sprintf("app%d", n),
		hostNS:    fmt.Sprintf("vc-vc%d-x-tenants", n),
	}
	ctx := context.Background()
	for c, ns := range map[client.Client]string{virtualC: w.namespace, hostC: w.hostNS} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	// The vcluster's default account; envtest has no controller-manager
	// to make it.
	if err := virtualC.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: w.namespace}}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w world) host(name string) string { return names.HostName(name, w.namespace, w.vc.Name) }

// start runs a syncer for w until the test ends, and returns once it has
// read both sides (Config.Synced).
func (w world) start(t *testing.T, isolation fleetv1.IsolationPolicy) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	synced := make(chan struct{})
	go func() {
		done <- syncer.Run(ctx, syncer.Config{
			Virtual: virtualCfg, Host: hostCfg, HostNamespace: w.hostNS, VCluster: w.vc, Isolation: isolation,
			APIServerHost: "10.1.2.3", APIServerPort: 6443, ServiceCIDR: "10.0.0.0/24",
			Kubelet: &syncer.Endpoint{Address: "127.0.0.1", Port: 10250},
			// Every host pod gets the hosts file's init container, so
			// that the host's API server judges it with each pod.
			HostsFileImage: "registry.example/vfleet:test",
			Resources:      resources.All(), Controllers: resources.Controllers(),
			// Every case starts a syncer in this one process.
			Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
			Synced:     func() { close(synced) },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("syncer: %v", err)
		}
	})
	select {
	case <-synced:
	case err := <-done:
		t.Fatalf("syncer stopped before it had read both sides: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the syncer has not read both sides after a minute")
	}
}

func pod(ns, name string, edit ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}}},
	}
	for _, e := range edit {
		e(p)
	}
	return p
}

func create(t *testing.T, c client.Client, objs ...client.Object) {
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// sample is the value of the series of name with labels among the
// syncers' metrics, 0 if there is none.
func sample(g gomega.Gomega, name string, labels map[string]string) float64 {
	families, err := metrics.Registry.Gather()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if maps.Equal(got, labels) {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// events returns the Event reasons and messages recorded on a virtual object.
func events(g gomega.Gomega, ns, name string) string {
	var list corev1.EventList
	g.Expect(virtualC.List(context.Background(), &list, client.InNamespace(ns))).To(gomega.Succeed())
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return strings.Join(out, "\n")
}

// TestSync gives, per case, the virtual cluster's and the host's objects
// when the syncer starts, and what both sides must come to.
func TestSync(t *testing.T) {
	runSyncCases(t, []syncCase{
		{
			name: "a pod reaches the host with its ConfigMap and Secret renamed, pointed at the vcluster's API",
			virtual: func(w world) []client.Object {
				return []client.Object{
					&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: w.namespace}, Data: map[string]string{"k": "v"}},
					&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "unused", Namespace: w.namespace}, Data: map[string]string{"k": "v"}},
					&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: w.namespace}, StringData: map[string]string{"password": "hunter2"}},
					pod(w.namespace, "web", func(p *corev1.Pod) {
						p.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}}
						p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}}}
					}),
				}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				hp := &corev1.Pod{}
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("web")}, hp)).To(gomega.Succeed())
				g.Expect(hp.Spec.Volumes[0].ConfigMap.Name).To(gomega.Equal(w.host("settings")))
				g.Expect(hp.Spec.Containers[0].Env).To(gomega.ContainElement(gomega.HaveField("ValueFrom.SecretKeyRef.Name", w.host("creds"))))
				g.Expect(hp.Spec.Containers[0].Env).To(gomega.ContainElement(corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: "10.1.2.3"}))
				g.Expect(*hp.Spec.EnableServiceLinks).To(gomega.BeFalse())
				g.Expect(hp.Labels).To(gomega.HaveKeyWithValue(syncer.HostLabelKey("app"), "web"))
				g.Expect(hp.Labels).To(gomega.HaveKeyWithValue(syncer.LabelVirtualNamespace, w.namespace))
				g.Expect(hp.Annotations).To(gomega.HaveKeyWithValue(syncer.AnnotationVirtualName, "web"))
				cm := &corev1.ConfigMap{}
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("settings")}, cm)).To(gomega.Succeed())
				g.Expect(cm.Data).To(gomega.HaveKeyWithValue("k", "v"))
				sec := &corev1.Secret{}
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("creds")}, sec)).To(gomega.Succeed())
				g.Expect(string(sec.Data["password"])).To(gomega.Equal("hunter2"))
				err := hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("unused")}, &corev1.ConfigMap{})
				g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "a ConfigMap no pod uses was synced")
			},
		},
		{
			name: "a pod bound to a node the host does not have (the vcluster moved) is deleted, one on a host node stays",
			virtual: func(w world) []client.Object {
				return []client.Object{
					pod(w.namespace, "lost", func(p *corev1.Pod) { p.Spec.NodeName = "other-host-node-1" }),
					pod(w.namespace, "kept", func(p *corev1.Pod) { p.Spec.NodeName = w.vc.Name + "-node" }),
				}
			},
			host: func(w world) []client.Object {
				return []client.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: w.vc.Name + "-node"}}}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				err := virtualC.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: "lost"}, &corev1.Pod{})
				g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "the pod of the lost node is still there: %v", err)
				g.Expect(events(g, w.namespace, "lost")).To(gomega.ContainSubstring("NodeLost: node other-host-node-1 is not on this host"))
				g.Expect(virtualC.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: "kept"}, &corev1.Pod{})).To(gomega.Succeed())
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("kept")}, &corev1.Pod{})).To(gomega.Succeed())
				err = hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("lost")}, &corev1.Pod{})
				g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "the lost pod has a host copy: %v", err)
			},
		},
		{
			name: "the service-account token comes from the vcluster, through a Secret, never an annotation",
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "tokened", func(p *corev1.Pod) {
					p.Spec.ServiceAccountName = "default"
					p.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To(int64(3607))}},
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
					}}}}}
				})}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				hp := &corev1.Pod{}
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("tokened")}, hp)).To(gomega.Succeed())
				g.Expect(hp.Spec.Volumes[0].Secret).NotTo(gomega.BeNil())
				g.Expect(*hp.Spec.AutomountServiceAccountToken).To(gomega.BeFalse())
				sec := &corev1.Secret{}
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: hp.Spec.Volumes[0].Secret.SecretName}, sec)).To(gomega.Succeed())
				g.Expect(sec.Data["token"]).NotTo(gomega.BeEmpty())
				g.Expect(string(sec.Data["namespace"])).To(gomega.Equal(w.namespace))
				for _, obj := range []client.Object{hp, sec} {
					for k, v := range obj.GetAnnotations() {
						g.Expect(v).NotTo(gomega.ContainSubstring(string(sec.Data["token"])), "token in annotation %s", k)
					}
				}
				// The token is the pod's own, and the host pod owns its Secret.
				g.Expect(sec.Name).To(gomega.Equal(w.host("tokened") + "-token"))
				g.Expect(sec.OwnerReferences).To(gomega.ContainElement(gomega.HaveField("UID", hp.UID)))
				review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: string(sec.Data["token"])}}
				g.Expect(virtualC.Create(ctx, review)).To(gomega.Succeed())
				g.Expect(review.Status.Authenticated).To(gomega.BeTrue())
				g.Expect(review.Status.User.Extra["authentication.kubernetes.io/pod-name"]).To(gomega.ConsistOf("tokened"))
			},
		},
		{
			name: "a pod the host refuses has no token Secret, nor once deleted",
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "refused", func(p *corev1.Pod) {
					p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
					p.Spec.ServiceAccountName = "default"
					p.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
					}}}}}
				})}
			},
			host: func(w world) []client.Object {
				// The host's limits refuse the pod's memory.
				return []client.Object{&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: w.hostNS, Name: "small"},
					Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Mi")}}}}}}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				g.Expect(events(g, w.namespace, "refused")).To(gomega.ContainSubstring("the host refused the Pod"))
				g.Expect(sample(g, "vfleet_syncer_errors_total", map[string]string{"kind": "Pod", "reason": "Forbidden"})).To(gomega.BeNumerically(">=", 1))
				// No Secret is made for a pod the host has not taken: one
				// would have no owner to go with.
				token := client.ObjectKey{Namespace: w.hostNS, Name: w.host("refused") + "-token"}
				err := hostC.Get(ctx, token, &corev1.Secret{})
				g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "a token Secret with no host pod: %v", err)
				// An unbound pod goes at once: nothing of the vcluster waits for it.
				g.Expect(client.IgnoreNotFound(virtualC.Delete(ctx, pod(w.namespace, "refused")))).To(gomega.Succeed())
				err = hostC.Get(ctx, token, &corev1.Secret{})
				g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "the token Secret is left on the host: %v", err)
			},
		},
		{
			name: "the host schedules: the virtual pod is bound to the host's node, gets its status, and sees the node",
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "runs")}
			},
			host: func(w world) []client.Object {
				return []client.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-" + w.vc.Name, Labels: map[string]string{"zone": "a"}},
					Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.245.9.1"}}}}}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				runOnHost(g, w, "runs", func(st *corev1.PodStatus) { st.Phase, st.PodIP = corev1.PodRunning, "10.244.0.7" })
				vp := &corev1.Pod{}
				g.Expect(virtualC.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: "runs"}, vp)).To(gomega.Succeed())
				g.Expect(vp.Spec.NodeName).To(gomega.Equal("node-" + w.vc.Name))
				g.Expect(vp.Status.Phase).To(gomega.Equal(corev1.PodRunning))
				g.Expect(vp.Status.PodIP).To(gomega.Equal("10.244.0.7"))
				g.Expect(sample(g, "vfleet_syncer_objects", map[string]string{"kind": "Pod"})).To(gomega.BeNumerically(">=", 1))
				vn := &corev1.Node{}
				g.Expect(virtualC.Get(ctx, client.ObjectKey{Name: "node-" + w.vc.Name}, vn)).To(gomega.Succeed())
				g.Expect(vn.Labels).To(gomega.HaveKeyWithValue("zone", "a"))
				// The host node's address, which a NodePort is reached at,
				// and the kubelet proxy's, which the API server takes.
				g.Expect(vn.Status.Addresses).To(gomega.ConsistOf(
					corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.245.9.1"},
					corev1.NodeAddress{Type: syncer.KubeletAddressType, Address: "127.0.0.1"}))
			},
		},
		{
			name: "a pod that finished on the host keeps its host copy, where its logs are, while the virtual pod lasts",
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "done")}
			},
			host: func(w world) []client.Object {
				return []client.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-" + w.vc.Name}}}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				hp := runOnHost(g, w, "done", func(st *corev1.PodStatus) { st.Phase = corev1.PodSucceeded })
				vp := &corev1.Pod{}
				g.Expect(virtualC.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: "done"}, vp)).To(gomega.Succeed())
				g.Expect(vp.Status.Phase).To(gomega.Equal(corev1.PodSucceeded))
				// A change to the finished pod makes the syncer look at it
				// again: the host copy is still there to take the label.
				if vp.Labels["looked"] == "" {
					vp.Labels["looked"] = "again"
					g.Expect(virtualC.Update(ctx, vp)).To(gomega.Succeed())
				}
				g.Expect(hostC.Get(ctx, client.ObjectKeyFromObject(hp), hp)).To(gomega.Succeed())
				g.Expect(hp.Labels).To(gomega.HaveKeyWithValue(syncer.HostLabelKey("looked"), "again"))
			},
		},
		{
			name: "an ephemeral container added to a running pod (kubectl debug) reaches its host copy",
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "debugged")}
			},
			host: func(w world) []client.Object {
				return []client.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-" + w.vc.Name}}}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				hp := runOnHost(g, w, "debugged", func(st *corev1.PodStatus) { st.Phase = corev1.PodRunning })
				vp := &corev1.Pod{}
				g.Expect(virtualC.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: "debugged"}, vp)).To(gomega.Succeed())
				if len(vp.Spec.EphemeralContainers) == 0 {
					vp.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
						Name: "debugger", Image: "busybox", TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent}}}
					g.Expect(virtualC.SubResource("ephemeralcontainers").Update(ctx, vp)).To(gomega.Succeed())
				}
				g.Expect(hostC.Get(ctx, client.ObjectKeyFromObject(hp), hp)).To(gomega.Succeed())
				g.Expect(hp.Spec.EphemeralContainers).To(gomega.HaveLen(1))
				g.Expect(hp.Spec.EphemeralContainers[0].Name).To(gomega.Equal("debugger"))
				// It reaches the vcluster's API, as the pod's own containers do.
				g.Expect(hp.Spec.EphemeralContainers[0].Env).To(gomega.ContainElement(corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: "10.1.2.3"}))
			},
		},
		{
			name: "a pod the tenant bound to a node itself is scheduled there by the host",
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "pinned", func(p *corev1.Pod) { p.Spec.NodeName = "node-" + w.vc.Name })}
			},
			host: func(w world) []client.Object {
				return []client.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-" + w.vc.Name}}}
			},
			expect: func(g gomega.Gomega, w world) {
				hp := &corev1.Pod{}
				g.Expect(hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host("pinned")}, hp)).To(gomega.Succeed())
				g.Expect(hp.Spec.NodeName).To(gomega.BeEmpty(), "the host's scheduler places the copy, under the class's rules")
				g.Expect(hp.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms).To(gomega.ConsistOf(corev1.NodeSelectorTerm{
					MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-" + w.vc.Name}}}}))
			},
		},
		{
			name: "an in-place resize of a running pod reaches its host copy, through the host's resize subresource",
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "grows", func(p *corev1.Pod) {
					p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
						Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					}
				})}
			},
			host: func(w world) []client.Object {
				// The vcluster's API server admits a resize the node has room for.
				room := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
				return []client.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-" + w.vc.Name}, Status: corev1.NodeStatus{Capacity: room, Allocatable: room}}}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				hp := runOnHost(g, w, "grows", func(st *corev1.PodStatus) { st.Phase = corev1.PodRunning })
				vp := &corev1.Pod{}
				g.Expect(virtualC.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: "grows"}, vp)).To(gomega.Succeed())
				want := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("64Mi")}
				if !vp.Spec.Containers[0].Resources.Limits.Cpu().Equal(want[corev1.ResourceCPU]) {
					vp.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = want[corev1.ResourceCPU]
					vp.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("500m")
					g.Expect(virtualC.SubResource("resize").Update(ctx, vp)).To(gomega.Succeed())
				}
				g.Expect(hostC.Get(ctx, client.ObjectKeyFromObject(hp), hp)).To(gomega.Succeed())
				res := hp.Spec.Containers[0].Resources
				g.Expect(res.Limits.Cpu().String()).To(gomega.Equal("1"))
				g.Expect(res.Requests.Cpu().String()).To(gomega.Equal("500m"))
				g.Expect(res.Limits.Memory().String()).To(gomega.Equal("128Mi"))
			},
		},
		{
			name: "the downward API reads the virtual pod's name, namespace and annotations, and the host accepts what it reads them from",
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "downward", func(p *corev1.Pod) {
					p.Annotations = map[string]string{"batch.kubernetes.io/job-completion-index": "3"}
					for _, f := range []string{"metadata.name", "metadata.namespace", "metadata.annotations['batch.kubernetes.io/job-completion-index']", "metadata.labels['app']"} {
						p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: fmt.Sprintf("V%d", len(p.Spec.Containers[0].Env)),
							ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: f}}})
					}
				})}
			},
			expect: func(g gomega.Gomega, w world) {
				hp := &corev1.Pod{}
				g.Expect(hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host("downward")}, hp)).To(gomega.Succeed())
				values := map[string]string{}
				for _, e := range hp.Spec.Containers[0].Env {
					if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
						p := e.ValueFrom.FieldRef.FieldPath
						if m := regexp.MustCompile(`^metadata\.(annotations|labels)\['(.*)'\]$`).FindStringSubmatch(p); m != nil && m[1] == "annotations" {
							values[e.Name] = hp.Annotations[m[2]]
						} else if m != nil {
							values[e.Name] = hp.Labels[m[2]]
						}
					}
				}
				// What the host's kubelet will read for each.
				g.Expect(values).To(gomega.Equal(map[string]string{"V0": "downward", "V1": w.namespace, "V2": "3", "V3": "downward"}))
			},
		},
		{
			name: "a privileged pod never reaches the host, and the vcluster says why",
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "root", func(p *corev1.Pod) {
					p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
				})}
			},
			expect: func(g gomega.Gomega, w world) {
				g.Expect(events(g, w.namespace, "root")).To(gomega.ContainSubstring("privileged"))
				err := hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host("root")}, &corev1.Pod{})
				g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue())
			},
		},
		{
			name: "volumes that reach beyond the namespace (nfs, inline csi, an ephemeral claim) never reach the host, and the vcluster says why",
			virtual: func(w world) []client.Object {
				return []client.Object{
					pod(w.namespace, "nfs", func(p *corev1.Pod) {
						p.Spec.Volumes = []corev1.Volume{{Name: "share", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "10.0.0.9", Path: "/exports"}}}}
					}),
					pod(w.namespace, "csi", func(p *corev1.Pod) {
						p.Spec.Volumes = []corev1.Volume{{Name: "inline", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "secrets-store.csi.k8s.io"}}}}
					}),
				}
			},
			expect: func(g gomega.Gomega, w world) {
				for name, typ := range map[string]string{"nfs": "nfs", "csi": "csi"} {
					g.Expect(events(g, w.namespace, name)).To(gomega.ContainSubstring("ForbiddenVolumeType: the pod stays off the host: volume"))
					g.Expect(events(g, w.namespace, name)).To(gomega.ContainSubstring("is of type " + typ))
					err := hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host(name)}, &corev1.Pod{})
					g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "pod %s reached the host", name)
				}
				g.Expect(sample(g, "vfleet_syncer_refusals_total", map[string]string{"kind": "Pod", "reason": "ForbiddenVolumeType"})).To(gomega.BeNumerically(">=", 2))
			},
		},
		{
			name:      "a volume type the class allows reaches the host",
			isolation: fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityBaseline, AllowedVolumeTypes: []string{"nfs"}},
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "allowed-nfs", func(p *corev1.Pod) {
					p.Spec.Volumes = []corev1.Volume{{Name: "share", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "10.0.0.9", Path: "/exports"}}}}
				})}
			},
			expect: func(g gomega.Gomega, w world) {
				g.Expect(hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host("allowed-nfs")}, &corev1.Pod{})).To(gomega.Succeed())
			},
		},
		{
			name: "Endpoints of a Service without a selector that point at the host's API service never reach the host",
			virtual: func(w world) []client.Object {
				return []client.Object{
					&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "sneaky", Namespace: w.namespace},
						Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443}}}},
					//nolint:staticcheck // Endpoints are what the attack writes.
					&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "sneaky", Namespace: w.namespace},
						Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.96.0.1"}}, Ports: []corev1.EndpointPort{{Port: 443}}}}},
				}
			},
			expect: func(g gomega.Gomega, w world) {
				g.Expect(events(g, w.namespace, "sneaky")).To(gomega.ContainSubstring("ForbiddenEndpointAddress: kept off the host: address 10.96.0.1"))
				//nolint:staticcheck // see above
				err := hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host("sneaky")}, &corev1.Endpoints{})
				g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "the Endpoints reached the host: %v", err)
			},
		},
		{
			name:      "Endpoints within a range the class allows reach the host",
			isolation: fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityBaseline, AllowedEndpointCIDRs: []string{"192.0.2.0/24"}},
			virtual: func(w world) []client.Object {
				return []client.Object{
					&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "external-db", Namespace: w.namespace},
						Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5432}}}},
					//nolint:staticcheck // a selector-less Service's Endpoints
					&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "external-db", Namespace: w.namespace},
						Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}}, Ports: []corev1.EndpointPort{{Port: 5432}}}}},
				}
			},
			expect: func(g gomega.Gomega, w world) {
				// The Service is made again with the host's ClusterIP; the
				// tenant's Endpoints, which the API server deletes with it,
				// are put back.
				//nolint:staticcheck // see above
				g.Expect(virtualC.Get(context.Background(), client.ObjectKey{Namespace: w.namespace, Name: "external-db"}, &corev1.Endpoints{})).To(gomega.Succeed())
				//nolint:staticcheck // see above
				g.Expect(hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host("external-db")}, &corev1.Endpoints{})).To(gomega.Succeed())
			},
		},
		{
			name: "privilege escalation never reaches the host, at baseline too",
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "escalates", func(p *corev1.Pod) {
					p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)}
				})}
			},
			expect: func(g gomega.Gomega, w world) {
				g.Expect(events(g, w.namespace, "escalates")).To(gomega.ContainSubstring("container main sets securityContext.allowPrivilegeEscalation=true"))
				err := hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host("escalates")}, &corev1.Pod{})
				g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue())
			},
		},
		{
			name: "a pod's labels reach the host under vfleet's keys, so that one carrying vfleet's own or the control plane's selects nothing of the host's",
			virtual: func(w world) []client.Object {
				return []client.Object{
					pod(w.namespace, "impostor", func(p *corev1.Pod) {
						p.Labels["app.kubernetes.io/name"] = "vfleet-controlplane"
						p.Labels["fleet.vfleet.dev/virtualcluster-uid"] = "someone-else"
						p.Annotations = map[string]string{"k8s.v1.cni.cncf.io/networks": "host-network"}
					}),
					&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: w.namespace},
						Spec: corev1.ServiceSpec{Selector: map[string]string{"app.kubernetes.io/name": "vfleet-controlplane"}, Ports: []corev1.ServicePort{{Port: 80}}}},
				}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				hp := &corev1.Pod{}
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("impostor")}, hp)).To(gomega.Succeed())
				g.Expect(hp.Labels).NotTo(gomega.HaveKey("app.kubernetes.io/name"))
				g.Expect(hp.Labels).To(gomega.HaveKeyWithValue(fleetv1.LabelVirtualClusterUID, w.vc.UID))
				g.Expect(hp.Labels).To(gomega.HaveKeyWithValue(syncer.HostLabelKey("app.kubernetes.io/name"), "vfleet-controlplane"))
				g.Expect(hp.Annotations).NotTo(gomega.HaveKey("k8s.v1.cni.cncf.io/networks"))
				// The tenant's Service still selects the tenant's pod.
				hs := &corev1.Service{}
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("web")}, hs)).To(gomega.Succeed())
				for k, v := range hs.Spec.Selector {
					g.Expect(hp.Labels).To(gomega.HaveKeyWithValue(k, v))
				}
			},
		},
		{
			name:      "restricted refuses what baseline allows",
			isolation: fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityRestricted},
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "plain")}
			},
			expect: func(g gomega.Gomega, w world) {
				g.Expect(events(g, w.namespace, "plain")).To(gomega.ContainSubstring(`"restricted"`))
				err := hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host("plain")}, &corev1.Pod{})
				g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue())
			},
		},
		{
			name: "a host object of the same name that the syncer did not make is a reported conflict, left alone",
			virtual: func(w world) []client.Object {
				return []client.Object{&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: w.namespace}, Data: map[string]string{"k": "virtual"}},
					pod(w.namespace, "user", func(p *corev1.Pod) {
						p.Spec.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "shared"}}}}}
					})}
			},
			host: func(w world) []client.Object {
				return []client.Object{&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: w.host("shared"), Namespace: w.hostNS}, Data: map[string]string{"k": "host"}}}
			},
			expect: func(g gomega.Gomega, w world) {
				g.Expect(events(g, w.namespace, "shared")).To(gomega.ContainSubstring(syncer.ReasonHostConflict))
				// The tenant is told what to fix, not the host's names.
				g.Expect(events(g, w.namespace, "shared")).NotTo(gomega.ContainSubstring(w.hostNS))
				cm := &corev1.ConfigMap{}
				g.Expect(hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host("shared")}, cm)).To(gomega.Succeed())
				g.Expect(cm.Data).To(gomega.HaveKeyWithValue("k", "host"))
			},
		},
		{
			name: "the Endpoints the host makes for a synced Service with a selector are no conflict",
			virtual: func(w world) []client.Object {
				return []client.Object{
					&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "sel", Namespace: w.namespace}, Spec: corev1.ServiceSpec{
						Selector: map[string]string{"app": "sel"}, Ports: []corev1.ServicePort{{Port: 80}}}},
					// What the vcluster's endpoints controller would make.
					&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "sel", Namespace: w.namespace}}, //nolint:staticcheck // the kind the conflict was about
				}
			},
			host: func(w world) []client.Object {
				// What the host's endpoints controller would make, with the
				// labels it copies from the host Service the syncer marked.
				return []client.Object{&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: w.host("sel"), Namespace: w.hostNS, Labels: map[string]string{ //nolint:staticcheck // the kind the conflict was about
					fleetv1.LabelManagedBy: fleetv1.ManagedByValue, fleetv1.LabelVirtualClusterUID: w.vc.UID, syncer.LabelVirtualNamespace: w.namespace,
				}}}}
			},
			expect: func(g gomega.Gomega, w world) {
				g.Expect(hostC.Get(context.Background(), client.ObjectKey{Namespace: w.hostNS, Name: w.host("sel")}, &corev1.Service{})).To(gomega.Succeed())
				g.Consistently(func(g gomega.Gomega) {
					g.Expect(events(g, w.namespace, "sel")).NotTo(gomega.ContainSubstring(syncer.ReasonHostConflict))
				}).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(gomega.Succeed())
			},
		},
		{
			name: "on start, host objects with no virtual counterpart go, and virtual ones missing on the host are made",
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "kept")}
			},
			host: func(w world) []client.Object {
				orphan := pod(w.hostNS, w.host("gone"))
				orphan.Labels = map[string]string{fleetv1.LabelManagedBy: fleetv1.ManagedByValue, fleetv1.LabelVirtualClusterUID: w.vc.UID}
				orphan.Annotations = map[string]string{syncer.AnnotationVirtualName: "gone", syncer.AnnotationVirtualNamespace: w.namespace, syncer.AnnotationVirtualUID: "uid-of-a-deleted-pod"}
				return []client.Object{orphan}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				err := hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("gone")}, &corev1.Pod{})
				g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "the orphan is still there")
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("kept")}, &corev1.Pod{})).To(gomega.Succeed())
			},
		},
		{
			name: "a Service gets the host's ClusterIP; a NodePort Service is refused",
			virtual: func(w world) []client.Object {
				port := []corev1.ServicePort{{Name: "http", Port: 80}}
				return []client.Object{
					&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: w.namespace}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: port}},
					&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "open", Namespace: w.namespace}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: port}},
				}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				hs := &corev1.Service{}
				g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("web")}, hs)).To(gomega.Succeed())
				g.Expect(hs.Spec.Selector).To(gomega.Equal(map[string]string{syncer.HostLabelKey("app"): "web", syncer.LabelVirtualNamespace: w.namespace}))
				vs := &corev1.Service{}
				g.Expect(virtualC.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: "web"}, vs)).To(gomega.Succeed())
				g.Expect(vs.Spec.ClusterIP).To(gomega.Equal(hs.Spec.ClusterIP))
				g.Expect(events(g, w.namespace, "open")).To(gomega.ContainSubstring("allowNodePorts"))
				err := hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host("open")}, &corev1.Service{})
				g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue())
			},
		},
		{
			name: "the host Service takes the virtual one's ClusterIP, and only a clash makes the virtual one again",
			virtual: func(w world) []client.Object {
				port := []corev1.ServicePort{{Name: "http", Port: 80}}
				return []client.Object{
					&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kept", Namespace: w.namespace}, Spec: corev1.ServiceSpec{ClusterIP: w.ip(0), Ports: port}},
					&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "clash", Namespace: w.namespace}, Spec: corev1.ServiceSpec{ClusterIP: w.ip(1), Ports: port}},
				}
			},
			host: func(w world) []client.Object {
				// Another Service of the host holds the address first.
				return []client.Object{&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "squatter", Namespace: w.hostNS},
					Spec: corev1.ServiceSpec{ClusterIP: w.ip(1), Ports: []corev1.ServicePort{{Port: 80}}}}}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				for name, want := range map[string]types.GomegaMatcher{"kept": gomega.Equal(w.ip(0)), "clash": gomega.Not(gomega.Equal(w.ip(1)))} {
					hs, vs := &corev1.Service{}, &corev1.Service{}
					g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host(name)}, hs)).To(gomega.Succeed())
					g.Expect(virtualC.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: name}, vs)).To(gomega.Succeed())
					g.Expect(hs.Spec.ClusterIP).To(want, name)
					g.Expect(vs.Spec.ClusterIP).To(gomega.Equal(hs.Spec.ClusterIP), name)
				}
			},
		},
		{
			name: "a deleted virtual pod takes its host copy with it",
			virtual: func(w world) []client.Object {
				return []client.Object{pod(w.namespace, "short-lived")}
			},
			expect: func(g gomega.Gomega, w world) {
				ctx := context.Background()
				key := client.ObjectKey{Namespace: w.hostNS, Name: w.host("short-lived")}
				vp := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: "short-lived"}}
				if err := virtualC.Get(ctx, client.ObjectKeyFromObject(vp), vp); err == nil {
					// Delete it once its host copy exists.
					g.Expect(hostC.Get(ctx, key, &corev1.Pod{})).To(gomega.Succeed())
					g.Expect(virtualC.Delete(ctx, vp)).To(gomega.Succeed())
				}
				err := hostC.Get(ctx, key, &corev1.Pod{})
				g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "the host pod outlived its virtual pod")
			},
		},
	})
}

// ip is the world's i-th address (0 or 1) in the Service range both test
// API servers have (10.0.0.0/24), in the band below .16 that they hand
// out only when asked for: no Service they gave an address takes it.
// Each world has its own, so that a case run again in the same API
// servers (go test -count) asks for addresses not yet taken.
func (w world) ip(i int) string {
	return fmt.Sprintf("10.0.0.%d", 2+(2*int(w.n)+i)%14)
}

// runOnHost does to the host copy of the virtual pod name what the host's
// scheduler and kubelet would: binds it to the world's node, once, and
// gives it the status set writes. It returns the host pod.
func runOnHost(g gomega.Gomega, w world, name string, set func(*corev1.PodStatus)) *corev1.Pod {
	ctx := context.Background()
	hp := &corev1.Pod{}
	g.Expect(hostC.Get(ctx, client.ObjectKey{Namespace: w.hostNS, Name: w.host(name)}, hp)).To(gomega.Succeed())
	if hp.Spec.NodeName == "" {
		g.Expect(hostC.SubResource("binding").Create(ctx, hp, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: hp.Name, Namespace: hp.Namespace},
			Target:     corev1.ObjectReference{Kind: "Node", Name: "node-" + w.vc.Name},
		})).To(gomega.Succeed())
		g.Expect(hostC.Get(ctx, client.ObjectKeyFromObject(hp), hp)).To(gomega.Succeed())
		set(&hp.Status)
		g.Expect(hostC.Status().Update(ctx, hp)).To(gomega.Succeed())
	}
	return hp
}

// syncCase is one case of a sync table: the virtual cluster's and the
// host's objects when the syncer starts, with the class's isolation, and
// what both sides must come to.
type syncCase struct {
	name      string
	isolation fleetv1.IsolationPolicy
	virtual   func(w world) []client.Object
	host      func(w world) []client.Object
	expect    func(g gomega.Gomega, w world)
}

func runSyncCases(t *testing.T, cases []syncCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			if tc.virtual != nil {
				create(t, virtualC, tc.virtual(w)...)
			}
			if tc.host != nil {
				create(t, hostC, tc.host(w)...)
			}
			w.start(t, tc.isolation)
			g := gomega.NewWithT(t)
			g.Eventually(func(g gomega.Gomega) { tc.expect(g, w) }).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(gomega.Succeed())
		})
	}
}
