package config_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/test/builder"
)

// TestFederationAnnotationsAreTheHubs: a tenant may not set, change or
// remove the annotations a federation's hub acts on (one would freeze its
// vcluster, or retire it); whoever may write a VirtualCluster's status
// may, and a tenant's other writes to a vcluster that carries them pass.
func TestFederationAnnotationsAreTheHubs(t *testing.T) {
	ctx := context.Background()
	admin := env.Client
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-fed"}},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-fed", Name: "bob"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "vfleet-tenant"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "bob"}},
		},
	} {
		if err := admin.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	bob := impersonate(t, "bob")
	refused := func(what string, err error, key string) {
		t.Helper()
		if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("a tenant could %s: %v, want a refusal that names %s", what, err, key)
		}
	}

	forged := builder.MakeVirtualCluster("tenant-fed", "forged").Obj()
	forged.Annotations = map[string]string{fleetv1.AnnotationTakenOverFrom: "region-2"}
	refused("create a VirtualCluster as taken over", bob.Create(ctx, forged), fleetv1.AnnotationTakenOverFrom)

	vc := builder.MakeVirtualCluster("tenant-fed", "mine").Obj()
	if err := bob.Create(ctx, vc); err != nil {
		t.Fatalf("a tenant cannot create a plain VirtualCluster: %v", err)
	}
	vc.Annotations = map[string]string{fleetv1.AnnotationTakenOverBy: "region-3"}
	refused("mark its VirtualCluster taken over by another region", bob.Update(ctx, vc), fleetv1.AnnotationTakenOverBy)

	// The hub (here the admin, who may write status) marks it; the tenant
	// can neither remove that nor change it, but can still label it.
	if err := admin.Get(ctx, client.ObjectKeyFromObject(vc), vc); err != nil {
		t.Fatal(err)
	}
	vc.Annotations = map[string]string{fleetv1.AnnotationTakenOverBy: "region-3"}
	if err := admin.Update(ctx, vc); err != nil {
		t.Fatalf("the hub cannot mark a VirtualCluster taken over: %v", err)
	}
	removed := vc.DeepCopy()
	removed.Annotations = nil
	refused("remove the hub's annotation", bob.Update(ctx, removed), fleetv1.AnnotationTakenOverBy)
	changed := vc.DeepCopy()
	changed.Annotations[fleetv1.AnnotationTakenOverBy] = "region-1"
	refused("change the hub's annotation", bob.Update(ctx, changed), fleetv1.AnnotationTakenOverBy)
	labelled := vc.DeepCopy()
	labelled.Labels = map[string]string{"team": "blue"}
	labelled.Annotations["note"] = "mine"
	if err := bob.Update(ctx, labelled); err != nil {
		t.Errorf("a tenant cannot label a VirtualCluster the hub marked: %v", err)
	}
	if err := bob.Delete(ctx, vc); err != nil {
		t.Errorf("a tenant cannot delete a VirtualCluster the hub marked: %v", err)
	}
}
