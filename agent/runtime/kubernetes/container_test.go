package kubernetes

import (
	"reflect"
	"testing"

	"github.com/vfleet/vfleet/agent/runtime"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// TestContainerArgs pins the pod's command line: a StatefulSet whose
// arguments change restarts its control plane.
func TestContainerArgs(t *testing.T) {
	r := &Runtime{opts: Options{Image: "vfleet/vfleet:test", BinRoot: "/opt/vfleet/k8s"}}
	inst := runtime.Instance{Name: "demo.team-a", Namespace: "vc-demo", Sync: runtime.Sync{ServiceCIDR: "10.43.0.0/16"},
		Spec: fleetv1.ControlPlaneSpec{
			VirtualCluster:    fleetv1.VirtualClusterReference{Namespace: "team-a", Name: "demo", UID: "uid-1"},
			KubernetesVersion: "v1.36.3",
			Isolation:         fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityRestricted},
		}}
	want := []string{"controlplane",
		"--name=demo", "--data-dir=/data", "--address=$(POD_IP)", "--port=6443",
		"--bin-root=/opt/vfleet/k8s", "--kubernetes-version=v1.36.3",
		"--san=vfleet-apiserver.vc-demo.svc", "--san=vfleet-apiserver.vc-demo.svc.cluster.local",
		"--publish-kubeconfig-secret=vfleet-kubeconfig", "--publish-server=https://vfleet-apiserver.vc-demo.svc:443",
		"--host-namespace=vc-demo", "--vcluster-namespace=team-a", "--vcluster-uid=uid-1",
		"--allow-node-ports=false", "--allow-external-ips=false", "--pod-security=Restricted", "--service-cidr=10.43.0.0/16",
	}
	if got := r.container(inst).Args; !reflect.DeepEqual(got, want) {
		t.Errorf("args\n got %q\nwant %q", got, want)
	}
}
