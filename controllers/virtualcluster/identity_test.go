package virtualcluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/identity"
	"github.com/vfleet/vfleet/lab/pgserver"
	"github.com/vfleet/vfleet/test/builder"
	"github.com/vfleet/vfleet/test/pgtest"
)

// secretData reads a Secret's data, failing the test without it.
func secretData(g gomega.Gomega, namespace, name string) map[string][]byte {
	s := &corev1.Secret{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, s)).To(gomega.Succeed())
	return s.Data
}

// gone says whether the Secret is gone.
func gone(g gomega.Gomega, namespace, name string) bool {
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &corev1.Secret{})
	g.Expect(client.IgnoreNotFound(err)).To(gomega.Succeed())
	return apierrors.IsNotFound(err)
}

// TestIdentityOutlivesAFailover: the hub makes a vcluster's identity once,
// in its own namespace, and hands the same one to each host that runs the
// vcluster, and to no other: the host it left loses its copy. Deleting the
// vcluster deletes every copy.
func TestIdentityOutlivesAFailover(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	vc, cp, _ := placeOnStore(t, "identified", fleetv1.BackingStoreSpec{Driver: fleetv1.DriverPostgreSQL, Endpoint: pg.Endpoint()},
		map[string][]byte{"username": []byte(pgserver.AdminUser), "password": []byte(pg.AdminPassword())}, nil)
	g := gomega.NewWithT(t)

	kept := secretData(g, identityNamespace, virtualcluster.IdentitySecretName(vc))
	if _, err := identity.Parse(kept); err != nil {
		t.Fatalf("the hub's identity of the vcluster: %v", err)
	}
	g.Expect(cp.Spec.IdentitySecret).To(gomega.Equal(virtualcluster.HostIdentitySecretName(vc)))
	eventually(t, func(g gomega.Gomega) {
		g.Expect(secretData(g, cp.Namespace, cp.Spec.IdentitySecret)).To(gomega.Equal(kept), "the host's copy")
	})
	// Nothing of it in the tenant's namespace, where the kubeconfig is.
	var tenant corev1.SecretList
	g.Expect(k8s.List(ctx, &tenant, client.InNamespace(vc.Namespace))).To(gomega.Succeed())
	for _, s := range tenant.Items {
		g.Expect(s.Data).NotTo(gomega.HaveKey(identity.CAKey), "Secret %s", s.Name)
	}

	runControlPlane(t, vc)
	moved := failOver(t, vc, "identified-b")
	newCP := &fleetv1.ControlPlane{}
	eventually(t, func(g gomega.Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: fleetv1.HostNamespace(moved.Status.Host), Name: virtualcluster.ControlPlaneName(vc)}, newCP)).To(gomega.Succeed())
		g.Expect(newCP.Spec.Epoch).To(gomega.Equal(moved.Status.Epoch))
		g.Expect(newCP.Spec.IdentitySecret).NotTo(gomega.BeEmpty())
		g.Expect(secretData(g, newCP.Namespace, newCP.Spec.IdentitySecret)).To(gomega.Equal(kept), "the new host's copy is the same identity")
		g.Expect(gone(g, cp.Namespace, cp.Spec.IdentitySecret)).To(gomega.BeTrue(), "the old host's copy is withdrawn")
	})
	g.Expect(secretData(g, identityNamespace, virtualcluster.IdentitySecretName(vc))).To(gomega.Equal(kept), "a move makes no new identity")

	g.Expect(k8s.Delete(ctx, moved)).To(gomega.Succeed())
	eventually(t, func(g gomega.Gomega) {
		g.Expect(gone(g, identityNamespace, virtualcluster.IdentitySecretName(vc))).To(gomega.BeTrue(), "the hub's identity")
		g.Expect(gone(g, newCP.Namespace, newCP.Spec.IdentitySecret)).To(gomega.BeTrue(), "the host's copy")
	})
}

// TestAnIdentityIsReplacedOnlyWhenAsked: an identity that is not whole
// stops the vcluster's provisioning, saying so, rather than being made
// anew, which would cut off every client that trusts the old one. A
// rotation asked for replaces it, once per request, and the host's copy
// follows.
func TestAnIdentityIsReplacedOnlyWhenAsked(t *testing.T) {
	ctx := context.Background()
	addHost(t, "broken-id-a", "r-broken-id", "8")
	vc := builder.MakeVirtualCluster("default", "broken-id").CPU("1").Regions("r-broken-id").Obj()
	g := gomega.NewWithT(t)
	g.Expect(k8s.Create(ctx, vc)).To(gomega.Succeed())
	vc = placedOn(t, vc, "broken-id-a")
	key := client.ObjectKey{Namespace: identityNamespace, Name: virtualcluster.IdentitySecretName(vc)}
	eventually(t, func(g gomega.Gomega) { secretData(g, key.Namespace, key.Name) })

	broken := &corev1.Secret{}
	g.Expect(k8s.Get(ctx, key, broken)).To(gomega.Succeed())
	delete(broken.Data, identity.CAKey)
	g.Expect(k8s.Update(ctx, broken)).To(gomega.Succeed())
	// Any change to the vcluster brings it back to the hub.
	g.Expect(k8s.Patch(ctx, vc, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"test/poke":"1"}}}`)))).To(gomega.Succeed())
	eventually(t, func(g gomega.Gomega) {
		got := get(t, vc)
		var msgs []string
		for _, c := range got.Status.Conditions {
			msgs = append(msgs, c.Message)
		}
		g.Expect(msgs).To(gomega.ContainElement(gomega.ContainSubstring("is broken, and is not replaced")))
	})
	g.Expect(secretData(g, key.Namespace, key.Name)).NotTo(gomega.HaveKey(identity.CAKey), "the broken identity is left for a person to mend")

	// vfleet certs rotate.
	rotate := func(request string) {
		t.Helper()
		value := `"` + request + `"`
		if request == "" {
			value = "null"
		}
		g.Expect(k8s.Patch(ctx, vc, client.RawPatch("application/merge-patch+json",
			[]byte(`{"metadata":{"annotations":{"`+fleetv1.AnnotationRotateIdentity+`":`+value+`}}}`)))).To(gomega.Succeed())
	}
	hostCopy := func(g gomega.Gomega) map[string][]byte {
		return secretData(g, fleetv1.HostNamespace("broken-id-a"), virtualcluster.HostIdentitySecretName(vc))
	}
	rotate("first")
	var first map[string][]byte
	eventually(t, func(g gomega.Gomega) {
		first = secretData(g, key.Namespace, key.Name)
		_, err := identity.Parse(first)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		g.Expect(hostCopy(g)).To(gomega.Equal(first))
	})
	rotate("second")
	eventually(t, func(g gomega.Gomega) {
		second := secretData(g, key.Namespace, key.Name)
		g.Expect(second[identity.CACert]).NotTo(gomega.Equal(first[identity.CACert]), "a second request, a new CA")
		g.Expect(hostCopy(g)).To(gomega.Equal(second))
		first = second
	})
	// Neither the same request again nor its removal asks for anything.
	rotate("second")
	rotate("")
	gomega.NewWithT(t).Consistently(func(g gomega.Gomega) {
		g.Expect(secretData(g, key.Namespace, key.Name)).To(gomega.Equal(first))
	}).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(gomega.Succeed())
}
