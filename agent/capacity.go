package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/nodestate"
)

// Report is what the agent writes into its HostCluster's status.
type Report struct {
	Allocatable        corev1.ResourceList
	Committed          corev1.ResourceList
	Used               corev1.ResourceList
	Nodes              int32
	VirtualClusters    int32
	KubernetesVersions []string
}

// Overhead is what one control plane costs its host beyond its quota.
type Overhead struct {
	CPU    resource.Quantity
	Memory resource.Quantity
}

// reported are the resources the fleet accounts in.
var reported = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods}

// Allocatable sums the allocatable cpu, memory and pods of the nodes that
// can take new pods: a NotReady or cordoned node offers nothing.
func Allocatable(nodes []corev1.Node) corev1.ResourceList {
	total := zero()
	for i := range nodes {
		if nodestate.Schedulable(&nodes[i]) {
			add(total, nodes[i].Status.Allocatable)
		}
	}
	return total
}

// Used sums what the pods that hold resources request: every pod not yet
// Succeeded or Failed, each also counting as one pod.
func Used(pods []corev1.Pod) corev1.ResourceList {
	total := zero()
	for i := range pods {
		addPod(total, &pods[i])
	}
	return total
}

// UsedByVCluster sums Used per vcluster, by the UID its host pods are
// labelled with, over its tenant's pods only: a control plane's own pod
// (the kubernetes runtime) is the host's overhead, not what the tenant
// uses of what it reserved.
func UsedByVCluster(pods []corev1.Pod) map[string]corev1.ResourceList {
	by := map[string]corev1.ResourceList{}
	for i := range pods {
		p := &pods[i]
		uid := p.Labels[fleetv1.LabelVirtualClusterUID]
		if uid == "" || p.Labels[fleetv1.LabelControlPlaneApp] == fleetv1.ControlPlaneAppValue {
			continue
		}
		if by[uid] == nil {
			by[uid] = zero()
		}
		addPod(by[uid], p)
	}
	return by
}

// addPod adds what p holds to total.
func addPod(total corev1.ResourceList, p *corev1.Pod) {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return
	}
	add(total, resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{}))
	add(total, corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(1, resource.DecimalSI)})
}

// Committed sums what the host has promised its control planes: each one's
// quota plus the overhead of running it.
func Committed(cps []fleetv1.ControlPlane, overhead Overhead) corev1.ResourceList {
	total := zero()
	for i := range cps {
		if !cps[i].DeletionTimestamp.IsZero() {
			continue
		}
		r := cps[i].Spec.Resources
		add(total, corev1.ResourceList{
			corev1.ResourceCPU:    r.CPU,
			corev1.ResourceMemory: r.Memory,
			corev1.ResourcePods:   *resource.NewQuantity(int64(r.Pods), resource.DecimalSI),
		})
		add(total, corev1.ResourceList{corev1.ResourceCPU: overhead.CPU, corev1.ResourceMemory: overhead.Memory})
	}
	return total
}

// Versions lists the Kubernetes versions whose binaries are under root,
// one directory per version (root/v1.36.3/kube-apiserver), newest first.
func Versions(root string) []string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "v") {
			continue
		}
		if fi, err := os.Stat(filepath.Join(root, e.Name(), "kube-apiserver")); err == nil && fi.Mode()&0o111 != 0 {
			out = append(out, e.Name())
		}
	}
	slices.SortFunc(out, func(a, b string) int { return compareVersions(b, a) })
	return out
}

// compareVersions orders "v1.36.3" style versions numerically.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(strings.TrimPrefix(a, "v"), "."), strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if len(pa[i]) != len(pb[i]) {
			return len(pa[i]) - len(pb[i])
		}
		if c := strings.Compare(pa[i], pb[i]); c != 0 {
			return c
		}
	}
	return len(pa) - len(pb)
}

func zero() corev1.ResourceList {
	l := corev1.ResourceList{}
	for _, name := range reported {
		l[name] = resource.Quantity{Format: format(name)}
	}
	return l
}

func format(name corev1.ResourceName) resource.Format {
	if name == corev1.ResourceMemory {
		return resource.BinarySI
	}
	return resource.DecimalSI
}

// add adds the reported resources of in to total.
func add(total, in corev1.ResourceList) {
	for _, name := range reported {
		q, ok := in[name]
		if !ok {
			continue
		}
		sum := total[name]
		sum.Add(q)
		total[name] = sum
	}
}

// equal compares reports the way the API server would store them.
func (r Report) equal(o Report) bool {
	return sameList(r.Allocatable, o.Allocatable) && sameList(r.Committed, o.Committed) && sameList(r.Used, o.Used) &&
		r.Nodes == o.Nodes && r.VirtualClusters == o.VirtualClusters && slices.Equal(r.KubernetesVersions, o.KubernetesVersions)
}

func sameList(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, qa := range a {
		qb, ok := b[k]
		if !ok || qa.Cmp(qb) != 0 {
			return false
		}
	}
	return true
}
