package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/envtest"
)

var k8s client.Client

// TestMain runs every test against one real API server with the CRDs from
// config/crd: the rules under test are the ones the API server enforces.
func TestMain(m *testing.M) {
	envtest.Main(m, envtest.Suite{CRDs: true, Setup: func(e envtest.Env) (func(), error) {
		k8s = e.Client
		return nil, nil
	}})
}

var names int

func uniqueName(prefix string) string {
	names++
	return fmt.Sprintf("%s-%d", prefix, names)
}

// expectRejected fails unless err is the API server refusing the object
// with a message holding every one of want.
func expectRejected(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want rejection mentioning %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("rejection %q does not mention %q", err, w)
		}
	}
}

func TestVirtualClusterDefaults(t *testing.T) {
	vc := builder.MakeVirtualCluster("default", uniqueName("defaults")).Obj()
	if err := k8s.Create(context.Background(), vc); err != nil {
		t.Fatal(err)
	}
	if vc.Spec.BackingStore.Type != fleetv1.BackingStoreEmbedded {
		t.Errorf("backingStore.type defaulted to %q", vc.Spec.BackingStore.Type)
	}
	if vc.Spec.Resources.Pods != 110 {
		t.Errorf("defaults: pods %d", vc.Spec.Resources.Pods)
	}
	if vc.Spec.Failover.AfterSeconds != 15 || vc.Spec.Failover.Mode != fleetv1.FailoverAutomatic {
		t.Errorf("failover defaults: %+v", vc.Spec.Failover)
	}
}

// TestClassDefaults: a class that says nothing of isolation enforces
// Baseline and opens nothing.
func TestClassDefaults(t *testing.T) {
	class := &fleetv1.VirtualClusterClass{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("empty")}}
	if err := k8s.Create(context.Background(), class); err != nil {
		t.Fatal(err)
	}
	if iso := class.Spec.Isolation; iso.PodSecurity != fleetv1.PodSecurityBaseline || iso.AllowNodePorts || iso.AllowExternalIPs {
		t.Errorf("isolation defaults: %+v", iso)
	}
	bad := &fleetv1.VirtualClusterClass{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("bad")}}
	bad.Spec.MaxResources.CPU = ptr.To(resource.MustParse("0"))
	expectRejected(t, k8s.Create(context.Background(), bad), "maxResources.cpu must be positive")

	sleepy := &fleetv1.VirtualClusterClass{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("sleepy")}}
	if err := k8s.Create(context.Background(), sleepy); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Patch(context.Background(), sleepy, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"sleep":{}}}`))); err != nil {
		t.Fatal(err)
	}
	if got := sleepy.Spec.Sleep.Reservation; got != fleetv1.ReservationKeep {
		t.Errorf("sleep.reservation defaults to %q, want Keep", got)
	}
	bad = &fleetv1.VirtualClusterClass{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("bad")}}
	bad.Spec.Sleep.Reservation = "Drop"
	expectRejected(t, k8s.Create(context.Background(), bad), `spec.sleep.reservation: Unsupported value: "Drop"`)
}

// TestClassExternalNames: zones go with Zones, and only with it; none may
// reach into the names the vcluster answers itself.
func TestClassExternalNames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy fleetv1.ExternalNamesPolicy
		zones  []string
		want   string
	}{
		{"zones without Zones", fleetv1.ExternalNamesAll, []string{"example.com"}, "externalNameZones lists the zones pods may resolve when externalNames is Zones"},
		{"Zones without zones", fleetv1.ExternalNamesZones, nil, "externalNameZones lists the zones pods may resolve when externalNames is Zones"},
		{"the vcluster's own names", fleetv1.ExternalNamesZones, []string{"example.com", "svc.cluster.local"}, "externalNameZones cannot hold cluster.local"},
		{"not a zone", fleetv1.ExternalNamesZones, []string{"Example.com"}, "should match"},
		{"an unknown policy", "Some", nil, `Unsupported value: "Some"`},
		{"Zones with zones", fleetv1.ExternalNamesZones, []string{"example.com", "corp.example"}, ""},
		{"None", fleetv1.ExternalNamesNone, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			class := &fleetv1.VirtualClusterClass{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("dns")}}
			class.Spec.Isolation.ExternalNames, class.Spec.Isolation.ExternalNameZones = tc.policy, tc.zones
			err := k8s.Create(context.Background(), class)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			expectRejected(t, err, tc.want)
		})
	}
}

func TestVirtualClusterRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		// patch edits the unstructured spec of a valid VirtualCluster.
		patch func(spec map[string]any)
		want  []string
	}{
		{"negative cpu", func(s map[string]any) { res(s)["cpu"] = "-2" }, []string{"cpu must be positive"}},
		{"zero memory", func(s map[string]any) { res(s)["memory"] = "0" }, []string{"memory must be positive"}},
		{"malformed memory", func(s map[string]any) { res(s)["memory"] = "4 gigs" }, []string{"spec.resources.memory", "should match"}},
		{"negative storage", func(s map[string]any) { res(s)["storage"] = "-1Gi" }, []string{"storage must not be negative"}},
		// Both passed "positive" and reserved nothing, or a negative amount.
		{"cpu beyond int64 milli-units", func(s map[string]any) { res(s)["cpu"] = "1E19" }, []string{"cpu must be at most 10000"}},
		{"cpu that overflows to negative", func(s map[string]any) { res(s)["cpu"] = "9223372036854776" }, []string{"cpu must be at most 10000"}},
		{"memory beyond int64", func(s map[string]any) { res(s)["memory"] = "1E19" }, []string{"memory must be at most 1Pi"}},
		{"storage beyond int64", func(s map[string]any) { res(s)["storage"] = "9E18" }, []string{"storage must be at most 1Ei"}},
		{"too few pods", func(s map[string]any) { res(s)["pods"] = int64(0) }, []string{"spec.resources.pods", "greater than or equal to 1"}},
		{"unknown backing store type", func(s map[string]any) { s["backingStore"] = map[string]any{"type": "Postgres"} },
			[]string{`spec.backingStore.type: Unsupported value: "Postgres"`, `"Embedded", "External"`}},
		{"external without a store", func(s map[string]any) { s["backingStore"] = map[string]any{"type": "External"} },
			[]string{"backingStore.name names a BackingStore and is required exactly when type is External"}},
		{"bad version", func(s map[string]any) { s["kubernetesVersion"] = "1.36" }, []string{"spec.kubernetesVersion", "v1\\.[0-9]+"}},
		{"unknown strategy", func(s map[string]any) { s["placement"] = map[string]any{"strategy": "Random"} },
			[]string{`Unsupported value: "Random"`, `"BinPack", "Spread", "LowestCost"`}},
		{"failover too eager", func(s map[string]any) { s["failover"] = map[string]any{"afterSeconds": int64(1)} },
			[]string{"spec.failover.afterSeconds", "greater than or equal to 5"}},
		// A vcluster that falls asleep between the gateway's reports of
		// its use would never stay awake.
		{"sleep too eager", func(s map[string]any) { s["sleep"] = map[string]any{"afterInactivity": "5s"} },
			[]string{"sleep.afterInactivity must be at least 30s"}},
		{"sleep after nonsense", func(s map[string]any) { s["sleep"] = map[string]any{"afterInactivity": "soon"} },
			[]string{"spec.sleep.afterInactivity"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := unstructuredOf(t, builder.MakeVirtualCluster("default", uniqueName("bad")).Obj())
			tc.patch(obj.Object["spec"].(map[string]any))
			expectRejected(t, k8s.Create(context.Background(), obj), tc.want...)
		})
	}
}

func TestVirtualClusterImmutableStore(t *testing.T) {
	ctx := context.Background()
	vc := builder.MakeVirtualCluster("default", uniqueName("immutable")).Obj()
	if err := k8s.Create(ctx, vc); err != nil {
		t.Fatal(err)
	}
	vc.Spec.BackingStore = fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreExternal, Name: "pg"}
	expectRejected(t, k8s.Update(ctx, vc), "backingStore.type is immutable")

	ext := builder.MakeVirtualCluster("default", uniqueName("external")).External("pg-a").Obj()
	if err := k8s.Create(ctx, ext); err != nil {
		t.Fatal(err)
	}
	ext.Spec.BackingStore.Name = "pg-b"
	expectRejected(t, k8s.Update(ctx, ext), "backingStore.name is immutable")

	// Mutable fields stay mutable.
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(ext), ext); err != nil {
		t.Fatal(err)
	}
	ext.Spec.Resources.Pods = 200
	if err := k8s.Update(ctx, ext); err != nil {
		t.Fatalf("changing pods was refused: %v", err)
	}
}

func TestHostClusterValidation(t *testing.T) {
	ctx := context.Background()
	host := builder.MakeHostCluster(uniqueName("host"), "eu-west").Zone("eu-west-1a").Obj()
	if err := k8s.Create(ctx, host); err != nil {
		t.Fatal(err)
	}
	if host.Spec.Overcommit.CPUPercent != 100 {
		t.Errorf("overcommit default %+v", host.Spec.Overcommit)
	}
	host.Spec.Region = "us-east"
	expectRejected(t, k8s.Update(ctx, host), "region is immutable")

	for _, tc := range []struct {
		name  string
		patch func(spec map[string]any)
		want  []string
	}{
		{"region with capitals", func(s map[string]any) { s["region"] = "EU_West" }, []string{"spec.region", "should match"}},
		{"overcommit too low", func(s map[string]any) { s["overcommit"] = map[string]any{"cpuPercent": int64(0)} },
			[]string{"spec.overcommit.cpuPercent", "greater than or equal to 10"}},
		{"bad taint effect", func(s map[string]any) {
			s["taints"] = []any{map[string]any{"key": "gpu", "effect": "Sometimes"}}
		}, []string{"taint effect must be NoSchedule, PreferNoSchedule or NoExecute"}},
		{"malformed price", func(s map[string]any) {
			s["prices"] = map[string]any{"cpuHour": "three cents", "memoryGiBHour": "0.004"}
		}, []string{"spec.prices.cpuHour", "should match"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := unstructuredOf(t, builder.MakeHostCluster(uniqueName("host"), "eu-west").Obj())
			tc.patch(obj.Object["spec"].(map[string]any))
			expectRejected(t, k8s.Create(ctx, obj), tc.want...)
		})
	}
}

func TestBackingStoreDriverIsImmutable(t *testing.T) {
	ctx := context.Background()
	bs := &fleetv1.BackingStore{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName("pg")},
		Spec: fleetv1.BackingStoreSpec{
			Driver: fleetv1.DriverPostgreSQL, Endpoint: "127.0.0.1:5432", Region: "eu-west",
			AdminCredentials: fleetv1.SecretReference{Namespace: "vfleet-system", Name: "pg-admin"},
		},
	}
	if err := k8s.Create(ctx, bs); err != nil {
		t.Fatal(err)
	}
	bs.Spec.Driver = fleetv1.DriverEtcd
	expectRejected(t, k8s.Update(ctx, bs), "driver is immutable")

	obj := unstructuredOf(t, bs)
	obj.SetName(uniqueName("mysql"))
	obj.SetResourceVersion("")
	obj.Object["spec"].(map[string]any)["driver"] = "MySQL"
	expectRejected(t, k8s.Create(ctx, obj), `Unsupported value: "MySQL"`, `"PostgreSQL", "Etcd"`)
}

func res(spec map[string]any) map[string]any { return spec["resources"].(map[string]any) }

func unstructuredOf(t *testing.T, obj client.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(fleetv1.GroupVersion.WithKind(kindOf(obj)))
	return u
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *fleetv1.VirtualCluster:
		return "VirtualCluster"
	case *fleetv1.HostCluster:
		return "HostCluster"
	case *fleetv1.BackingStore:
		return "BackingStore"
	}
	panic(fmt.Sprintf("kindOf %T", obj))
}

// TestVirtualClusterNameMustBeALabel: a dotted name is a valid object name
// but cannot name the vcluster's namespace on its host.
func TestVirtualClusterNameMustBeALabel(t *testing.T) {
	for _, name := range []string{"team.a", strings.Repeat("v", 64)} {
		vc := builder.MakeVirtualCluster("default", name).Obj()
		expectRejected(t, k8s.Create(context.Background(), vc), "a vcluster name must be a DNS label")
	}
	if err := k8s.Create(context.Background(), builder.MakeVirtualCluster("default", strings.Repeat("v", 63)).Obj()); err != nil {
		t.Fatalf("a 63-character label was refused: %v", err)
	}
}

func TestHostClusterNameMustFitANamespace(t *testing.T) {
	long := builder.MakeHostCluster(strings.Repeat("h", 52), "eu-west").Obj()
	expectRejected(t, k8s.Create(context.Background(), long), "at most 51 characters", "vfleet-host-<name>")
}

func TestBackingStoreEndpointMatchesItsDriver(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		driver   fleetv1.BackingStoreDriver
		endpoint string
		rejected string
	}{
		{fleetv1.DriverPostgreSQL, "db.example.com:5432", ""},
		{fleetv1.DriverPostgreSQL, "postgres://db.example.com:5432/x", "a PostgreSQL endpoint is host:port"},
		{fleetv1.DriverEtcd, "https://10.0.0.1:2379", ""},
		{fleetv1.DriverEtcd, "https://e1:2379,https://e2:2379,https://e3:2379", ""},
		{fleetv1.DriverEtcd, "http://10.0.0.1:2379", "an Etcd endpoint is one or more https:// client URLs"},
		{fleetv1.DriverEtcd, "10.0.0.1:2379", "an Etcd endpoint is one or more https:// client URLs"},
	} {
		t.Run(string(tc.driver)+" "+tc.endpoint, func(t *testing.T) {
			bs := &fleetv1.BackingStore{
				ObjectMeta: metav1.ObjectMeta{Name: uniqueName("endpoint")},
				Spec: fleetv1.BackingStoreSpec{
					Driver: tc.driver, Endpoint: tc.endpoint, Region: "eu-west",
					AdminCredentials: fleetv1.SecretReference{Namespace: "vfleet-system", Name: "admin"},
				},
			}
			err := k8s.Create(ctx, bs)
			if tc.rejected == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			expectRejected(t, err, tc.rejected)
		})
	}
}

// TestControlPlaneUsedIsBounded: what an agent reports its vcluster's pods
// use is priced by the hub, so a negative or absurd figure is refused.
func TestControlPlaneUsedIsBounded(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("cp-used")}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	cp := &fleetv1.ControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "one.default"}, Spec: fleetv1.ControlPlaneSpec{
		VirtualCluster: fleetv1.VirtualClusterReference{Namespace: "default", Name: "one", UID: "u"}, Epoch: 1, KubernetesVersion: "v1.36.3",
		Resources: fleetv1.Resources{CPU: resource.MustParse("1"), Memory: resource.MustParse("1Gi")},
		Store:     fleetv1.ControlPlaneStore{Type: fleetv1.BackingStoreEmbedded},
	}}
	if err := k8s.Create(ctx, cp); err != nil {
		t.Fatal(err)
	}
	cp.Status.Used = &fleetv1.ResourceUse{CPU: resource.MustParse("1500m"), Memory: resource.MustParse("512Mi"), Pods: 3}
	if err := k8s.Status().Update(ctx, cp); err != nil {
		t.Fatalf("a sound report refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		use  fleetv1.ResourceUse
		want string
	}{
		{"negative cpu", fleetv1.ResourceUse{CPU: resource.MustParse("-1"), Memory: resource.MustParse("1Gi")}, "cpu must be between 0 and 10M cores"},
		{"absurd memory", fleetv1.ResourceUse{CPU: resource.MustParse("1"), Memory: resource.MustParse("2Ei")}, "memory must be between 0 and 1Ei"},
		{"negative pods", fleetv1.ResourceUse{CPU: resource.MustParse("1"), Memory: resource.MustParse("1Gi"), Pods: -1}, "status.used.pods"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := cp.DeepCopy()
			bad.Status.Used = &tc.use
			expectRejected(t, k8s.Status().Update(ctx, bad), tc.want)
		})
	}
}
