package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vfleet/vfleet/agent"
	"github.com/vfleet/vfleet/internal/k8sbin"
	"github.com/vfleet/vfleet/internal/pki"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/lab/images"
	"github.com/vfleet/vfleet/lab/realnode"
)

// KubeProxy is the machine's kube-proxy, on the host with real nodes.
const KubeProxy Component = "kube-proxy"

// Real nodes are tainted so that only pods that ask for one run there: a
// pod meant for kwok, whose image no real node has, would never start.
// Tests and classes that want real containers tolerate it and select
// realnode.LabelKind=realnode.KindReal.
const (
	TaintRealNode = "lab.vfleet.dev/real-node"
)

// RealNodeToleration lets a pod onto the lab's real nodes.
var RealNodeToleration = corev1.Toleration{Key: TaintRealNode, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// ContainerdOf and KubeletOf are the processes of the host's i-th real
// node (from 1).
func ContainerdOf(i int) Component { return Component("containerd-" + strconv.Itoa(i)) }

// KubeletOf is the kubelet of the host's i-th real node (from 1).
func KubeletOf(i int) Component { return Component("kubelet-" + strconv.Itoa(i)) }

// realNodeOf returns which real node comp belongs to (from 1), and
// whether it is that node's kubelet (else its containerd); 0 for any
// other component.
func realNodeOf(comp Component) (int, bool) {
	for prefix, kubelet := range map[string]bool{"containerd-": false, "kubelet-": true} {
		if rest, ok := strings.CutPrefix(string(comp), prefix); ok {
			if i, err := strconv.Atoi(rest); err == nil && i > 0 {
				return i, kubelet
			}
		}
	}
	return 0, false
}

// componentsOf lists a host's processes in start order: the real nodes'
// after kwok, and the agent last, as it reports the nodes' capacity.
func componentsOf(h HostConfig) []Component {
	if h.RealNodes == 0 {
		return hostComponents
	}
	comps := append([]Component{}, hostComponents[:len(hostComponents)-1]...)
	for i := 1; i <= h.RealNodes; i++ {
		comps = append(comps, ContainerdOf(i), KubeletOf(i))
	}
	return append(comps, KubeProxy, Agent)
}

// NodePorts are the ports of one real node's kubelet.
type NodePorts struct {
	Kubelet int `json:"kubelet"`
	Healthz int `json:"healthz"`
}

// RealNodeNames returns the names of the host's real nodes.
func (c *Cluster) RealNodeNames() []string {
	names := make([]string, c.Host.RealNodes)
	for i := range names {
		names[i] = realNodeName(c.Name, i+1)
	}
	return names
}

func realNodeName(host string, i int) string { return fmt.Sprintf("%s-real-%d", host, i) }

// realNode is the host's i-th real node (from 1). Its CA is set only by
// prepare, which issues its certificates.
func (c *Cluster) realNode(i int) realnode.Config {
	var ports NodePorts
	if i <= len(c.ports.RealNodes) {
		ports = c.ports.RealNodes[i-1]
	}
	imgs := make([]string, 0, len(realNodeImages)+len(c.Host.MoreImages))
	for _, ref := range append(slices.Clone(realNodeImages), c.Host.MoreImages...) {
		imgs = append(imgs, filepath.Join(c.imagesDir, images.File(ref)))
	}
	return realnode.Config{
		Name: realNodeName(c.Name, i),
		// One lab on the machine runs real nodes, on one host: their
		// position is unique.
		Index:            i,
		Dir:              filepath.Join(c.paths.root, "nodes", realNodeName(c.Name, i)),
		K8sBinDir:        c.binDir,
		ContainerdBinDir: c.containerdBinDir,
		CNIBinDir:        cniBinDir,
		Images:           imgs,
		Server:           c.Endpoint(),
		KubeletPort:      ports.Kubelet,
		HealthzPort:      ports.Healthz,
		ClusterDNS:       ClusterDNS,
		Labels: map[string]string{
			realnode.LabelKind: realnode.KindReal,
			LabelRegion:        c.Host.Region,
			LabelZone:          c.Host.Zone,
			LabelLabHost:       c.Name,
		},
		Taints: c.realNodeTaints(),
	}
}

// realNodeTaints keep pods that do not ask for a real node off it, where
// the host has kwok nodes too: most of the lab's pods are for kwok's. A
// host of real nodes only taints none, as a real cluster's nodes are not:
// the upstream conformance tests run there.
func (c *Cluster) realNodeTaints() []corev1.Taint {
	if c.Host.Nodes == 0 {
		return nil
	}
	return []corev1.Taint{{Key: TaintRealNode, Value: "true", Effect: corev1.TaintEffectNoSchedule}}
}

// realNodeImages are imported into every real node: the sandbox, and what
// tests and the kubernetes runtime run.
var realNodeImages = []string{images.Pause, images.BusyBox, images.Agnhost, images.CoreDNS, images.Kubectl, images.Vfleet}

// podReachableAddress is where pods of the host's real nodes reach its
// apiserver (the kubernetes Service's endpoint): the first real node's
// address, their gateway. Nil for a host without real nodes: there the
// endpoint reconciler would refuse the loopback address the apiserver
// listens on, and no pod needs it.
func (c *Cluster) podReachableAddress() net.IP {
	if c.Host.RealNodes == 0 {
		return nil
	}
	return c.realNode(1).NodeIP()
}

// cniBinDir is where Debian's containernetworking-plugins puts the plugins.
const cniBinDir = "/usr/lib/cni"

// proxy is the machine's kube-proxy, speaking for the host's first real
// node.
func (c *Cluster) proxy() realnode.Proxy {
	return realnode.Proxy{
		Dir: filepath.Join(c.paths.root, "kube-proxy"), K8sBinDir: c.binDir, Server: c.Endpoint(),
		NodeName: realNodeName(c.Name, 1), HealthzPort: c.ports.KubeProxyHealthz, MetricsPort: c.ports.KubeProxyMetrics,
	}
}

// prepareRealNode writes what a real node's containerd (its certificates,
// configuration and bridge; the kubelet's come with them) or the
// kube-proxy needs before it starts.
func (c *Cluster) prepareRealNode(comp Component) error {
	i, kubelet := realNodeOf(comp)
	if comp != KubeProxy && (i == 0 || kubelet) {
		return nil
	}
	ca, err := pki.LoadCA(c.paths.pki("ca.crt"), c.paths.pki("ca.key"))
	if err != nil {
		return err
	}
	if comp == KubeProxy {
		p := c.proxy()
		p.CA = ca
		return p.Prepare()
	}
	n := c.realNode(i)
	n.CA = ca
	return n.Prepare()
}

// realNodeSpec is how to run a real node's process or the kube-proxy; ok
// is false for other components.
func (c *Cluster) realNodeSpec(comp Component) (procgroup.Spec, bool) {
	if comp == KubeProxy {
		return c.proxy().Spec(), true
	}
	i, kubelet := realNodeOf(comp)
	if i == 0 {
		return procgroup.Spec{}, false
	}
	if kubelet {
		return c.realNode(i).KubeletSpec(), true
	}
	return c.realNode(i).ContainerdSpec(), true
}

// realNodeProbe is the health check of a real node's process or the
// kube-proxy.
func (c *Cluster) realNodeProbe(comp Component) func(context.Context) error {
	plain := &http.Client{Timeout: 2 * time.Second}
	if comp == KubeProxy {
		return httpProbe(plain, "http://127.0.0.1:"+strconv.Itoa(c.ports.KubeProxyHealthz)+"/healthz")
	}
	i, kubelet := realNodeOf(comp)
	if kubelet {
		return httpProbe(plain, "http://127.0.0.1:"+strconv.Itoa(c.ports.RealNodes[i-1].Healthz)+"/healthz")
	}
	return c.realNode(i).ContainerdReady
}

// afterContainerd imports the node's images once its containerd answers,
// before its kubelet starts: a node is never Ready without them.
func (c *Cluster) afterContainerd(ctx context.Context, comp Component) error {
	i, kubelet := realNodeOf(comp)
	if i == 0 || kubelet {
		return nil
	}
	n := c.realNode(i)
	begin := time.Now()
	if err := n.ImportImages(ctx); err != nil {
		return err
	}
	c.progress.printf("%s: %d images imported into %s in %s", c.Name, len(n.Images), n.Name, since(begin))
	return nil
}

// cleanupRealNodes removes what the host's real nodes and the kube-proxy
// left on the machine once their processes are stopped or killed.
func (c *Cluster) cleanupRealNodes(ctx context.Context) error {
	if c.Host.RealNodes == 0 {
		return nil
	}
	var errs []error
	for i := 1; i <= c.Host.RealNodes; i++ {
		errs = append(errs, realnode.Cleanup(c.realNode(i)))
	}
	errs = append(errs, realnode.CleanupProxy(ctx))
	return errors.Join(errs...)
}

// checkRealNodes says what a lab with real nodes is missing, and how to
// get it.
func checkRealNodes(cfg Config) error {
	var errs []error
	if err := checkBinaries(cfg.BinDir, []string{"kubelet", "kube-proxy"}); err != nil {
		errs = append(errs, err)
	}
	for _, name := range []string{"containerd", "containerd-shim-runc-v2", "ctr"} {
		if _, err := os.Stat(filepath.Join(cfg.ContainerdBinDir, name)); err != nil {
			errs = append(errs, fmt.Errorf("%s not found in %s: run \"make binaries\" to build containerd %s", name, cfg.ContainerdBinDir, k8sbin.ContainerdVersion))
		}
	}
	if _, err := os.Stat(k8sbin.CoreDNS()); err != nil {
		errs = append(errs, fmt.Errorf("CoreDNS not found at %s, for the vclusters' DNS: run \"make binaries\" to build CoreDNS %s", k8sbin.CoreDNS(), k8sbin.CoreDNSVersion))
	}
	refs := slices.Clone(realNodeImages)
	for _, h := range cfg.Hosts {
		refs = append(refs, h.MoreImages...)
	}
	for _, ref := range refs {
		if _, err := os.Stat(filepath.Join(cfg.ImagesDir, images.File(ref))); err != nil {
			errs = append(errs, fmt.Errorf("image %s not found in %s: run \"make images\"", ref, cfg.ImagesDir))
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, plugin)); err != nil {
			errs = append(errs, fmt.Errorf("CNI plugin %s not found in %s: run \"make node-packages\"", plugin, cniBinDir))
		}
	}
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("real nodes need root (they make bridges, mounts and cgroups)"))
	}
	return errors.Join(errs...)
}

// Runtimes a lab host's agent may run control planes with: the agent's.
const (
	RuntimeProcess    = agent.RuntimeProcess
	RuntimeKubernetes = agent.RuntimeKubernetes
)

// localStorageClass is the class of the real nodes' local volumes, which
// the lab makes ahead: there is no provisioner.
const localStorageClass = "lab-local"

// localVolumes is how many local volumes the host's first real node
// offers; each holds one control plane's data under the kubernetes
// runtime.
const localVolumes = 4

// kubernetesRuntimeArgs run the agent's control planes as pods of the
// vfleet image on the host's real nodes, with their data on its local
// volumes.
func (c *Cluster) kubernetesRuntimeArgs() []string {
	return []string{
		"--runtime=kubernetes",
		"--control-plane-image=" + images.Vfleet,
		"--bin-root=/opt/vfleet/k8s",
		"--control-plane-node-selector=" + realnode.LabelKind + "=" + realnode.KindReal,
		"--control-plane-tolerations=" + TaintRealNode + ":" + string(corev1.TaintEffectNoSchedule),
		"--control-plane-storage-class=" + localStorageClass,
	}
}

// ensureLocalVolumes makes the local StorageClass and the first real
// node's volumes in it, each a directory of the node's, open to the
// control plane's non-root user.
func (c *Cluster) ensureLocalVolumes(ctx context.Context) error {
	if c.Host.RealNodes == 0 {
		return nil
	}
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: localStorageClass},
		Provisioner:       "kubernetes.io/no-provisioner",
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	if _, err := c.kube.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s: StorageClass %s: %w", c.Name, sc.Name, err)
	}
	n := c.realNode(1)
	for i := 1; i <= localVolumes; i++ {
		dir := filepath.Join(n.Dir, "volumes", strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			return err
		}
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-local-%d", n.Name, i)},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				StorageClassName:              localStorageClass,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{n.Name}}},
				}}}},
			},
		}
		if _, err := c.kube.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: PersistentVolume %s: %w", c.Name, pv.Name, err)
		}
	}
	return nil
}
