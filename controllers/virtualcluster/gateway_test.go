package virtualcluster_test

import (
	"context"
	"testing"

	"github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/gateway"
	"github.com/vfleet/vfleet/lab/pgserver"
	"github.com/vfleet/vfleet/test/pgtest"
)

// publishedKubeconfig is a kubeconfig as an agent publishes it: the
// control plane's own address, its CA and the admin's credentials.
func publishedKubeconfig(t *testing.T, endpoint string) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["vc"] = &clientcmdapi.Cluster{Server: endpoint, CertificateAuthorityData: []byte("ca")}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("cert"), ClientKeyData: []byte("key")}
	cfg.Contexts["vc"] = &clientcmdapi.Context{Cluster: "vc", AuthInfo: "admin"}
	cfg.CurrentContext = "vc"
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTheGatewayRouteFollowsTheEpoch: with a gateway, the hub names it in
// the tenant's kubeconfig with the vcluster's server name, which the
// control plane's certificate covers, and publishes the route to the
// epoch that runs. A failover takes the route away until the new epoch
// runs, and the kubeconfig does not change.
func TestTheGatewayRouteFollowsTheEpoch(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	vc, cp, _ := placeOnStore(t, "routed", fleetv1.BackingStoreSpec{Driver: fleetv1.DriverPostgreSQL, Endpoint: pg.Endpoint()},
		map[string][]byte{"username": []byte(pgserver.AdminUser), "password": []byte(pg.AdminPassword())}, nil)
	g := gomega.NewWithT(t)
	serverName := "routed." + vc.Namespace + ".vclusters.test"
	g.Expect(cp.Spec.ServerName).To(gomega.Equal(serverName), "the control plane's certificate must cover the gateway's name")

	runControlPlane(t, vc)
	var kubeconfig []byte
	eventually(t, func(g gomega.Gomega) {
		got := get(t, vc)
		g.Expect(got.Status.Phase).To(gomega.Equal(fleetv1.PhaseReady))
		g.Expect(got.Status.Endpoint).To(gomega.Equal("https://" + testGateway.Address))
		g.Expect(got.Status.Gateway).To(gomega.Equal(&fleetv1.GatewayRoute{ServerName: serverName, Address: "10.0.1.1:6443", Epoch: 1}))
		kubeconfig = secretData(g, vc.Namespace, virtualcluster.KubeconfigSecretName(vc))[fleetv1.KubeconfigKey]
	})
	cfg, err := clientcmd.Load(kubeconfig)
	g.Expect(err).NotTo(gomega.HaveOccurred())
	for name, c := range cfg.Clusters {
		g.Expect(c.Server).To(gomega.Equal("https://"+testGateway.Address), "cluster %s", name)
		g.Expect(c.TLSServerName).To(gomega.Equal(serverName), "cluster %s", name)
		g.Expect(c.CertificateAuthorityData).To(gomega.Equal([]byte("ca")), "the CA is the vcluster's")
	}

	moved := failOver(t, vc, "routed-b")
	g.Expect(moved.Status.Epoch).To(gomega.Equal(int64(2)))
	if r, known := gateway.RouteOf(moved); !known || r.Address != "" {
		t.Errorf("route while epoch 2 starts = %+v, %v; want the name known and no address: connections are held", r, known)
	}
	runControlPlane(t, moved)
	eventually(t, func(g gomega.Gomega) {
		got := get(t, vc)
		g.Expect(got.Status.Gateway).To(gomega.Equal(&fleetv1.GatewayRoute{ServerName: serverName, Address: "10.0.2.1:6443", Epoch: 2}))
		g.Expect(got.Status.Phase).To(gomega.Equal(fleetv1.PhaseReady))
	})
	g.Expect(secretData(g, vc.Namespace, virtualcluster.KubeconfigSecretName(vc))[fleetv1.KubeconfigKey]).To(gomega.Equal(kubeconfig),
		"the tenant's kubeconfig is the same after the move")

	g.Expect(k8s.Delete(ctx, moved)).To(gomega.Succeed())
	eventually(t, func(g gomega.Gomega) {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(vc), &fleetv1.VirtualCluster{})
		g.Expect(client.IgnoreNotFound(err)).To(gomega.Succeed())
		g.Expect(err).To(gomega.HaveOccurred(), "the vcluster is gone")
	})
}
