package lab

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/nodestate"
	"github.com/vfleet/vfleet/lab/realnode"
)

// Labels and annotations on lab nodes.
const (
	// kwokNodeAnnotation marks the nodes kwok manages.
	kwokNodeAnnotation = "kwok.x-k8s.io/node"
	// LabelRegion and LabelZone are the well-known topology labels.
	LabelRegion = corev1.LabelTopologyRegion
	LabelZone   = corev1.LabelTopologyZone
	// LabelLabHost names the lab host a node belongs to.
	LabelLabHost = "lab.vfleet.dev/host"
)

// workloadTimeout bounds the wait for nodes to turn Ready. The
// node-lifecycle controller removes the not-ready taint on its next pass
// after kwok reports Ready (every 5 s), so this is generous.
const workloadTimeout = 2 * time.Minute

// NodeNames returns the names of the host's nodes.
func (c *Cluster) NodeNames() []string {
	c.mu.Lock()
	n := c.Host.Nodes
	c.mu.Unlock()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-node-%d", c.Name, i+1)
	}
	return names
}

// AddNode adds one node of the host's node capacity to a running host, as
// a cloud would when a node pool grows, and returns its name. The node
// turns Ready through kwok like the others, and stays across restarts.
func (c *Cluster) AddNode(ctx context.Context) (string, error) {
	if c.Role != RoleHost {
		return "", fmt.Errorf("%s has no nodes", c.Name)
	}
	c.mu.Lock()
	i := c.Host.Nodes
	c.Host.Nodes++
	c.mu.Unlock()
	name := fmt.Sprintf("%s-node-%d", c.Name, i+1)
	if _, err := c.kube.CoreV1().Nodes().Create(ctx, c.node(name, i), metav1.CreateOptions{}); err != nil {
		c.mu.Lock()
		c.Host.Nodes--
		c.mu.Unlock()
		return "", fmt.Errorf("%s: add node %s: %w", c.Name, name, err)
	}
	c.changed()
	return name, nil
}

// node returns the i-th kwok node of the host, with its capacity in status
// as a kubelet registers it.
func (c *Cluster) node(name string, i int) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    c.Host.Node.CPU,
		corev1.ResourceMemory: c.Host.Node.Memory,
		corev1.ResourcePods:   *resource.NewQuantity(c.Host.Node.Pods, resource.DecimalSI),
	}
	podCIDR := "10.244." + strconv.Itoa(i) + ".0/24"
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				corev1.LabelHostname:   name,
				corev1.LabelOSStable:   "linux",
				corev1.LabelArchStable: "amd64",
				LabelRegion:            c.Host.Region,
				LabelZone:              c.Host.Zone,
				LabelLabHost:           c.Name,
				"type":                 "kwok",
				realnode.LabelKind:     realnode.KindKwok,
			},
			Annotations: map[string]string{kwokNodeAnnotation: "fake"},
		},
		Spec: corev1.NodeSpec{PodCIDR: podCIDR, PodCIDRs: []string{podCIDR}},
		Status: corev1.NodeStatus{
			// Unique across the lab: 172.16.<host>.<node>.
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("172.16.%d.%d", c.index, i+1)},
				{Type: corev1.NodeHostName, Address: name},
			},
			Capacity:    capacity,
			Allocatable: capacity,
			NodeInfo:    corev1.NodeSystemInfo{KubeletVersion: k8sbin.Version},
		},
	}
}

// waitWorkloadReady waits until a pod created now would be admitted and
// run: every node Ready and free of scheduling taints (removed by the
// node-lifecycle controller, never by hand), and the default service account
// created by the controller-manager.
func (c *Cluster) waitWorkloadReady(ctx context.Context) error {
	shown := -1
	want := len(c.NodeNames()) + len(c.RealNodeNames())
	var last error
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, workloadTimeout, true, func(ctx context.Context) (bool, error) {
		if want > 0 {
			nodes, err := c.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				last = err
				return false, nil
			}
			ready := countReady(nodes.Items)
			if ready != shown {
				c.progress.printf("%s: %d/%d nodes Ready and schedulable", c.Name, ready, want)
				shown = ready
			}
			if ready < want {
				last = fmt.Errorf("%d/%d nodes Ready and schedulable", ready, want)
				return false, nil
			}
		}
		if _, err := c.kube.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			last = fmt.Errorf("default service account: %w", err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%s: not ready for workloads after %s: %v (see %s)", c.Name, workloadTimeout, last, c.paths.log(KubeControllerManager))
	}
	return nil
}

// countReady counts the nodes that are Ready and accept new pods, a real
// node's own taint aside: it accepts the pods that ask for it.
func countReady(nodes []corev1.Node) int {
	n := 0
	for i := range nodes {
		node := nodes[i].DeepCopy()
		node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == TaintRealNode })
		if Schedulable(node) {
			n++
		}
	}
	return n
}

// CountSchedulable counts the nodes that are Ready and accept new pods.
func CountSchedulable(nodes []corev1.Node) int { return nodestate.CountSchedulable(nodes) }

// Schedulable reports whether node is Ready and accepts new pods.
func Schedulable(node *corev1.Node) bool { return nodestate.Schedulable(node) }
