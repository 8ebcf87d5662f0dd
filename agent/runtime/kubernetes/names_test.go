package kubernetes_test

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"

	kuberuntime "github.com/vfleet/vfleet/agent/runtime/kubernetes"
	"github.com/vfleet/vfleet/internal/names"
)

// hostNameForm is every name a vcluster's object can have on its host:
// name-x-namespace-x-vcluster, or a cut name ending in a hash.
var hostNameForm = regexp.MustCompile(`^(.+-x-.+-x-[a-z0-9-]+|.*[0-9a-f]{10})$`)

// TestTenantCannotNameTheControlPlanesObjects: the control plane shares
// its host namespace with the tenant's pods, and its Secrets hold the
// store's credentials and the vcluster's admin kubeconfig. A tenant's pod
// reaches host objects only by names the syncer makes from its own
// (FuzzHostPod holds it to that), and none of those can be one of the
// control plane's.
func TestTenantCannotNameTheControlPlanesObjects(t *testing.T) {
	own := []string{
		kuberuntime.StatefulSetName, kuberuntime.ServiceName, kuberuntime.ServiceAccountName,
		kuberuntime.BackendSecretName, kuberuntime.KubeconfigSecretName, "data-" + kuberuntime.StatefulSetName + "-0",
	}
	for _, name := range own {
		if hostNameForm.MatchString(name) {
			t.Errorf("%q has the form of a tenant object's host name", name)
		}
	}
	// The form is what names.HostName makes, whatever the tenant writes.
	r := rand.New(rand.NewSource(1))
	word := func() string {
		parts := []string{"vfleet", "store", "x", "kubeconfig", "data", "controlplane", "0", strings.Repeat("a", 60), "apiserver"}
		var b []string
		for range 1 + r.Intn(4) {
			b = append(b, parts[r.Intn(len(parts))])
		}
		return strings.Join(b, []string{"-", "."}[r.Intn(2)])
	}
	for range 20000 {
		got := names.HostName(word(), strings.ReplaceAll(word(), ".", "-"), "demo")
		if !hostNameForm.MatchString(got) {
			t.Fatalf("host name %q is not of the form the check assumes", got)
		}
		for _, name := range own {
			if got == name {
				t.Fatalf("a tenant's object is named %q on the host", name)
			}
		}
	}
}
