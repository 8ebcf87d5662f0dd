package hostaccess_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// TestAgentCannotRewriteItsControlPlane: an agent updates its ControlPlanes
// to hold them with a finalizer, and writes their status; the admission
// policy shipped in config/policy keeps it from changing what the hub told
// it to run, such as raising its epoch so that the hub never retires it.
func TestAgentCannotRewriteItsControlPlane(t *testing.T) {
	ctx := context.Background()
	createHost(t, "epsilon")
	ns := fleetv1.HostNamespace("epsilon")
	cp := &fleetv1.ControlPlane{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenant-a-demo", Labels: map[string]string{fleetv1.LabelManagedBy: fleetv1.ManagedByValue}},
		Spec: fleetv1.ControlPlaneSpec{
			VirtualCluster:    fleetv1.VirtualClusterReference{Namespace: "tenant-a", Name: "demo", UID: "0000-1111"},
			Epoch:             2,
			KubernetesVersion: "v1.36.3",
			Resources:         fleetv1.Resources{CPU: resource.MustParse("1"), Memory: resource.MustParse("1Gi")},
			Store:             fleetv1.ControlPlaneStore{Type: fleetv1.BackingStoreEmbedded},
		},
	}
	if err := k8s.Create(ctx, cp); err != nil {
		t.Fatal(err)
	}
	agent := asAgent(t, "epsilon")
	patch := func(p string) error {
		return agent.Patch(ctx, &fleetv1.ControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: cp.Name}}, client.RawPatch(types.MergePatchType, []byte(p)))
	}

	// The API server enforces a policy a moment after it is stored.
	eventually(t, "the policy refuses an agent's raise of its epoch", func() error {
		err := patch(`{"spec":{"epoch":99}}`)
		if err == nil || !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			return fmt.Errorf("raising the epoch: %v, want a refusal", err)
		}
		if !strings.Contains(err.Error(), "may not change a ControlPlane's spec") {
			return fmt.Errorf("refusal %q does not say what is not allowed", err)
		}
		return nil
	})
	for what, p := range map[string]string{
		"sleep it":               `{"spec":{"sleeping":true}}`,
		"point it at a store":    `{"spec":{"store":{"type":"External","driver":"PostgreSQL","endpoint":"db:5432","database":"other","credentialsSecret":"x"}}}`,
		"relabel it":             `{"metadata":{"labels":{"fleet.vfleet.dev/managed-by":"me"}}}`,
		"claim another vcluster": `{"spec":{"virtualCluster":{"namespace":"tenant-b","name":"other","uid":"2222"}}}`,
	} {
		if err := patch(p); err == nil {
			t.Errorf("an agent could %s", what)
		}
	}

	// What it needs still works: its finalizer on and off, its status.
	if err := patch(`{"metadata":{"finalizers":["fleet.vfleet.dev/agent"]}}`); err != nil {
		t.Fatalf("adding its finalizer: %v", err)
	}
	if err := patch(`{"metadata":{"finalizers":null}}`); err != nil {
		t.Fatalf("removing its finalizer: %v", err)
	}
	status := &fleetv1.ControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: cp.Name}}
	if err := agent.Status().Patch(ctx, status, client.RawPatch(types.MergePatchType, []byte(`{"status":{"phase":"Running","epoch":2}}`))); err != nil {
		t.Fatalf("writing status: %v", err)
	}
	got := &fleetv1.ControlPlane{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(cp), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Epoch != 2 || got.Spec.Sleeping {
		t.Fatalf("spec after the agent's attempts: %+v", got.Spec)
	}
	// The hub itself may still change the spec.
	if err := k8s.Patch(ctx, got, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"epoch":3}}`))); err != nil {
		t.Fatalf("the hub raising the epoch: %v", err)
	}
}
