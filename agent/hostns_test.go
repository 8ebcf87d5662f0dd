package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// TestHostQuotaCountsObjects: the host namespace's quota covers the
// objects a tenant could pile up there, and no NodePort or LoadBalancer
// Service unless the class allows them.
func TestHostQuotaCountsObjects(t *testing.T) {
	cp := &fleetv1.ControlPlane{Spec: fleetv1.ControlPlaneSpec{
		VirtualCluster: fleetv1.VirtualClusterReference{Namespace: "t", Name: "v", UID: "u"},
		Resources:      fleetv1.Resources{CPU: resource.MustParse("2"), Memory: resource.MustParse("4Gi"), Pods: 10},
	}}
	quota := func(cp *fleetv1.ControlPlane) corev1.ResourceList {
		for _, obj := range hostNamespaceObjects(cp) {
			if q, ok := obj.(*corev1.ResourceQuota); ok {
				return q.Spec.Hard
			}
		}
		t.Fatal("no ResourceQuota in the host namespace")
		return nil
	}
	hard := quota(cp)
	for name, want := range map[corev1.ResourceName]string{
		corev1.ResourceServices: "20", corev1.ResourceConfigMaps: "30", corev1.ResourceSecrets: "60", corev1.ResourcePersistentVolumeClaims: "20",
		corev1.ResourceServicesNodePorts: "0", corev1.ResourceServicesLoadBalancers: "0",
		corev1.ResourceRequestsCPU: "2", corev1.ResourcePods: "10",
	} {
		got, ok := hard[name]
		if !ok || got.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("quota of %s: %v, want %s", name, got.String(), want)
		}
	}
	cp.Spec.Isolation.AllowNodePorts = true
	if np := quota(cp)[corev1.ResourceServicesNodePorts]; np.IsZero() {
		t.Error("a class that allows NodePorts gets none")
	}
}
