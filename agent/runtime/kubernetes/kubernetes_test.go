package kubernetes_test

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/agent/runtime"
	kuberuntime "github.com/vfleet/vfleet/agent/runtime/kubernetes"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/test/envtest"
)

var host client.Client

func TestMain(m *testing.M) {
	envtest.Main(m, envtest.Suite{Setup: func(e envtest.Env) (func(), error) {
		host = e.Client
		return nil, nil
	}})
}

func instance(ns string) runtime.Instance {
	return runtime.Instance{Name: "demo.team-a", Namespace: ns, Generation: 1, Spec: fleetv1.ControlPlaneSpec{
		VirtualCluster:    fleetv1.VirtualClusterReference{Namespace: "team-a", Name: "demo", UID: "uid-1"},
		Epoch:             1,
		KubernetesVersion: "v1.36.3",
		Resources:         fleetv1.Resources{CPU: resource.MustParse("2"), Memory: resource.MustParse("4Gi"), Pods: 20},
		Store:             fleetv1.ControlPlaneStore{Type: fleetv1.BackingStoreEmbedded},
	}}
}

// owned are the objects the StatefulSet owns.
func owned(ns string) []client.Object {
	return []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kuberuntime.ServiceAccountName}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kuberuntime.ServiceAccountName}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kuberuntime.ServiceAccountName}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kuberuntime.BackendSecretName}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kuberuntime.KubeconfigSecretName}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kuberuntime.ServiceName}},
	}
}

// TestKubernetesRuntime follows one control plane through its life at the
// API level: created with everything owned by its StatefulSet, Starting
// until the pod is ready and has published its kubeconfig, Running with
// it, asleep at zero replicas, and removed without a trace.
func TestKubernetesRuntime(t *testing.T) {
	ctx := context.Background()
	ns := "vc-demo-x-team-a"
	if err := host.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	rt, err := kuberuntime.New(host, kuberuntime.Options{Image: "vfleet/vfleet:test", BinRoot: "/opt/vfleet/k8s"})
	if err != nil {
		t.Fatal(err)
	}
	inst := instance(ns)

	state, err := rt.Ensure(ctx, inst)
	if err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{}
	if err := host.Get(ctx, client.ObjectKey{Namespace: ns, Name: kuberuntime.ServiceName}, svc); err != nil {
		t.Fatal(err)
	}
	// By the Service's address, which a gateway reaches without the
	// host's DNS.
	if want := "https://" + svc.Spec.ClusterIP + ":443"; state.Phase != fleetv1.ControlPlaneStarting || state.Endpoint != want {
		t.Fatalf("after create: %+v; want Starting at %s", state, want)
	}
	sts := &appsv1.StatefulSet{}
	if err := host.Get(ctx, client.ObjectKey{Namespace: ns, Name: kuberuntime.StatefulSetName}, sts); err != nil {
		t.Fatal(err)
	}
	c := sts.Spec.Template.Spec.Containers[0]
	if c.Image != "vfleet/vfleet:test" || *sts.Spec.Replicas != 1 || !contains(c.Args, "--kubernetes-version=v1.36.3") || !contains(c.Args, "--publish-kubeconfig-secret=vfleet-kubeconfig") {
		t.Fatalf("statefulset: image %s replicas %d args %v", c.Image, *sts.Spec.Replicas, c.Args)
	}
	for _, e := range c.Env {
		if e.Name == "VFLEET_BACKEND" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Fatal("store credentials must come from a Secret, not the pod spec")
		}
	}
	for _, obj := range owned(ns) {
		if err := host.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatalf("%T %s: %v", obj, obj.GetName(), err)
		}
		if !metav1.IsControlledBy(obj, sts) {
			t.Fatalf("%T %s is not owned by the StatefulSet: %v", obj, obj.GetName(), obj.GetOwnerReferences())
		}
	}

	// The pod is ready but has not published yet: still starting.
	sts.Status.Replicas, sts.Status.ReadyReplicas, sts.Status.AvailableReplicas = 1, 1, 1
	if err := host.Status().Update(ctx, sts); err != nil {
		t.Fatal(err)
	}
	if state, err = rt.Ensure(ctx, inst); err != nil || state.Phase != fleetv1.ControlPlaneStarting {
		t.Fatalf("ready, unpublished: %+v %v", state, err)
	}
	// It publishes, as `vfleet controlplane --publish-kubeconfig-secret`
	// does; the runtime must not wipe it on the next Ensure.
	secret := &corev1.Secret{}
	if err := host.Get(ctx, client.ObjectKey{Namespace: ns, Name: kuberuntime.KubeconfigSecretName}, secret); err != nil {
		t.Fatal(err)
	}
	secret.Data = map[string][]byte{"kubeconfig": []byte("apiVersion: v1\nkind: Config\n")}
	if err := host.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if state, err = rt.Ensure(ctx, inst); err != nil || state.Phase != fleetv1.ControlPlaneRunning || len(state.Kubeconfig) == 0 {
		t.Fatalf("published: %+v %v", state, err)
	}

	inst.Spec.Sleeping = true
	if state, err = rt.Ensure(ctx, inst); err != nil || state.Phase != fleetv1.ControlPlaneSleeping {
		t.Fatalf("sleeping: %+v %v", state, err)
	}
	if err := host.Get(ctx, client.ObjectKeyFromObject(sts), sts); err != nil || *sts.Spec.Replicas != 0 {
		t.Fatalf("asleep, the StatefulSet must scale to zero: %v %v", sts.Spec.Replicas, err)
	}

	if err := rt.Remove(ctx, inst); err != nil {
		t.Fatal(err)
	}
	for _, obj := range append(owned(ns), sts) {
		err := host.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		if !apierrors.IsNotFound(err) && obj.GetDeletionTimestamp().IsZero() {
			t.Fatalf("%T %s left after Remove: %v", obj, obj.GetName(), err)
		}
	}
	// Removing again is not an error.
	if err := rt.Remove(ctx, inst); err != nil {
		t.Fatal(err)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
