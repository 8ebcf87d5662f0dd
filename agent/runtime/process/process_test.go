package process

import (
	"testing"

	"github.com/vfleet/vfleet/agent/runtime"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// TestSyncerOptions pins what records keep of a launch: an agent that
// finds a record written otherwise restarts the control plane.
func TestSyncerOptions(t *testing.T) {
	r := &Runtime{opts: Options{Address: "127.0.0.1", BinRoot: "/opt/k8s"}}
	inst := runtime.Instance{Name: "demo.team-a", Namespace: "vc-demo", Spec: fleetv1.ControlPlaneSpec{
		VirtualCluster: fleetv1.VirtualClusterReference{Namespace: "team-a", Name: "demo", UID: "uid-1"},
		Isolation:      fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityBaseline, AllowExternalIPs: true},
	}}
	if got := syncerOptions(r.launchConfig(inst, "/cp/demo", 16443)); got != "" {
		t.Errorf("without a syncer: %q, want none", got)
	}
	inst.Sync = runtime.Sync{HostServer: "https://host:6443", ServiceCIDR: "10.43.0.0/16"}
	want := "--host-namespace=vc-demo --host-kubeconfig=/cp/demo/host.kubeconfig --vcluster-namespace=team-a --vcluster-uid=uid-1" +
		" --allow-node-ports=false --allow-external-ips=true --pod-security=Baseline --service-cidr=10.43.0.0/16"
	if got := syncerOptions(r.launchConfig(inst, "/cp/demo", 16443)); got != want {
		t.Errorf("syncer options\n got %q\nwant %q", got, want)
	}
}
