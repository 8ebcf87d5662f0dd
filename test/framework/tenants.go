package framework

import (
	"context"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/names"
	"github.com/vfleet/vfleet/test/builder"
)

// Tenant is a Ready vcluster, with an admin client of it and of its host.
type Tenant struct {
	VC *fleetv1.VirtualCluster
	// Kube is the vcluster's admin, from Config; Host is the host's.
	Kube, Host kubernetes.Interface
	Config     *rest.Config
	// HostNS is the vcluster's namespace on its host.
	HostNS string
}

// NewTenant makes a vcluster of 6 CPUs and 8Gi in namespace default of the
// management cluster, and waits until it is Ready and can admit pods.
func (s *LabSuite) NewTenant(ctx context.Context, name string) Tenant {
	return s.NewTenantOfClass(ctx, name, "")
}

// NewTenantOfClass is NewTenant for a vcluster of class (empty: the
// default).
func (s *LabSuite) NewTenantOfClass(ctx context.Context, name, class string) Tenant {
	w := builder.MakeVirtualCluster("default", name).CPU("6").Memory("8Gi")
	if class != "" {
		w = w.Class(class)
	}
	vc := w.Obj()
	Expect(s.Mgmt.Create(ctx, vc)).To(Succeed())
	vc = WaitForVClusterReady(ctx, s.Mgmt, client.ObjectKeyFromObject(vc), 2*time.Minute)
	cfg := VClusterConfig(ctx, s.Mgmt, vc)
	kube, _ := VClusterClients(cfg)
	host, err := s.Lab.Host(vc.Status.Host).Client()
	Expect(err).NotTo(HaveOccurred())
	// The vcluster's controller-manager makes the default account, which
	// the API needs before it admits pods.
	Eventually(func() error {
		_, err := kube.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	return Tenant{VC: vc, Kube: kube, Config: cfg, Host: host, HostNS: names.VClusterNamespace(vc.Namespace, vc.Name)}
}

// HostName is the name on the host of the tenant's object in namespace.
func (t Tenant) HostName(name, namespace string) string {
	return names.HostName(name, namespace, t.VC.Name)
}
