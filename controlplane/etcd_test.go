package controlplane

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/stores"
	"github.com/vfleet/vfleet/stores/etcdstore"
	"github.com/vfleet/vfleet/test/etcdtest"
)

// TestExternalEtcdControlPlane keeps a vcluster's state under its prefix
// on a real etcd server, as a user confined to that prefix. Fencing the
// epoch stops the running apiserver's writes; the next epoch's control
// plane, on a fresh data directory, finds the state.
func TestExternalEtcdControlPlane(t *testing.T) {
	s := etcdtest.Start(t)
	admin := s.Admin()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const space = "vfleet-cp"
	if err := admin.EnsureSpace(ctx, space); err != nil {
		t.Fatal(err)
	}
	backend := func(epoch int64) string {
		creds, err := admin.EnsureEpochUser(ctx, space, epoch)
		if err != nil {
			t.Fatal(err)
		}
		return stores.EtcdBackend{Endpoints: s.Endpoint, Prefix: etcdstore.Prefix(space), CA: creds.ServerCA, Cert: creds.Cert, Key: creds.Key}.String()
	}
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	cp, stop, log := startOn(t, t.TempDir(), ports[0], backend(1))
	kube := client(t, cp)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "in-etcd", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := kube.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	root, err := s.RootClient()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = root.Close() }()
	got, err := root.Get(ctx, etcdstore.Prefix(space)+"/configmaps/default/in-etcd", clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if got.Count != 1 {
		t.Fatal("the ConfigMap is not under the vcluster's prefix")
	}

	if err := admin.Fence(ctx, space, 1); err != nil {
		t.Fatal(err)
	}
	late := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: "default"}}
	if _, err := kube.CoreV1().ConfigMaps("default").Create(ctx, late, metav1.CreateOptions{}); err == nil {
		t.Fatal("the fenced epoch's apiserver still writes")
	}
	stop()

	cp, _, _ = startOn(t, t.TempDir(), ports[0], backend(2))
	back, err := client(t, cp).CoreV1().ConfigMaps("default").Get(ctx, "in-etcd", metav1.GetOptions{})
	if err != nil || back.Data["k"] != "v" {
		t.Fatalf("from etcd: %v %v", back, err)
	}
}
