package controlplane

import (
	"context"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/portclaim"
)

func TestSkippedChecks(t *testing.T) {
	for _, tc := range []struct {
		recorded, serving string
		want              []string
	}{
		{"", "v1.36.3", nil},
		{"v1.36.3", "v1.36.3", bootstrapChecks},
		{"v1.35.0", "v1.36.3", nil},
		{"v1.36.3", "v1.36.4", nil},
	} {
		if got := skippedChecks(tc.recorded, tc.serving); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("recorded %q, serving %q: skips %v, want %v", tc.recorded, tc.serving, got, tc.want)
		}
	}
}

// TestARestartDoesNotWaitForTheStoresDefaultObjects: the first start over
// a store waits until the apiserver has made its default RBAC roles and
// priority classes, and records it in the store; a restart does not wait
// for that again (a wake would, a second and more), and the roles are
// there as soon as it is ready: the controller-manager's identity is let
// in at once.
func TestARestartDoesNotWaitForTheStoresDefaultObjects(t *testing.T) {
	ports, release, err := portclaim.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	dir := t.TempDir()
	cp, stop, log := start(t, dir, ports[0])
	if strings.Contains(log.String(), "not waiting") {
		t.Fatalf("the first start over a store did not wait for its default objects:\n%s", log)
	}
	ctx := context.Background()
	ns, err := client(t, cp).CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	version, err := client(t, cp).Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.Annotations[annotationBootstrapped]; got != version.GitVersion {
		t.Fatalf("kube-system records bootstrap by %q, want %q", got, version.GitVersion)
	}
	stop()

	cp, _, log = start(t, dir, ports[0])
	if !strings.Contains(log.String(), "has the default objects of "+version.GitVersion+" already") {
		t.Fatalf("a restart waited for the default objects again:\n%s", log)
	}
	cfg, err := kubeconfig.RESTConfig(cp.pki(kubeconfigKCM))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clientFor(t, cfg).CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		t.Fatalf("ready after a restart, the controller-manager is not let in: %v\n%s", err, log)
	}
}
