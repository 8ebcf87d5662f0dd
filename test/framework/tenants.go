package framework

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/names"
	"github.com/vfleet/vfleet/test/builder"
)

// Tenant is a Ready vcluster, with an admin client of it and of its host.
type Tenant struct {
	VC *fleetv1.VirtualCluster
	// Kube is the vcluster's admin, from Config; Host is the host's.
	Kube, Host kubernetes.Interface
	Config     *rest.Config
	// Kubeconfig is the one the hub handed out, which Config is read from.
	Kubeconfig []byte
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
	return s.NewTenantOf(ctx, w)
}

// NewTenantOf makes the vcluster w describes and waits until it is Ready
// and can admit pods.
func (s *LabSuite) NewTenantOf(ctx context.Context, w *builder.VirtualClusterWrapper) Tenant {
	vc := w.Obj()
	Expect(s.Mgmt.Create(ctx, vc)).To(Succeed())
	vc = WaitForVClusterReady(ctx, s.Mgmt, client.ObjectKeyFromObject(vc), 2*time.Minute)
	kc := VClusterKubeconfig(ctx, s.Mgmt, vc)
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	Expect(err).NotTo(HaveOccurred())
	kube, _ := VClusterClients(cfg)
	host, err := s.Lab.Host(vc.Status.Host).Client()
	Expect(err).NotTo(HaveOccurred())
	// The vcluster's controller-manager makes the default account, which
	// the API needs before it admits pods.
	Eventually(func() error {
		_, err := kube.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	return Tenant{VC: vc, Kube: kube, Config: cfg, Kubeconfig: kc, Host: host, HostNS: names.VClusterNamespace(vc.Namespace, vc.Name)}
}

// HostName is the name on the host of the tenant's object in namespace.
func (t Tenant) HostName(name, namespace string) string {
	return names.HostName(name, namespace, t.VC.Name)
}

// Kubectl is kubectl, from the lab's binaries, with the kubeconfig the
// hub handed the tenant: what a tenant types. The kubeconfig is written
// into the spec's temporary directory.
func (t Tenant) Kubectl(ctx context.Context, args ...string) *exec.Cmd {
	GinkgoHelper()
	file := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(file, t.Kubeconfig, 0o600)).To(Succeed())
	kubectl := filepath.Join(k8sbin.Dir(), "kubectl")
	Expect(kubectl).To(BeAnExistingFile(), "make binaries builds kubectl")
	return exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig=" + file}, args...)...)
}
