package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"

	"github.com/go-logr/logr"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/vfleet/vfleet/agent/runtime"
	kuberuntime "github.com/vfleet/vfleet/agent/runtime/kubernetes"
	"github.com/vfleet/vfleet/agent/runtime/process"
	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/ctrlopts"
	"github.com/vfleet/vfleet/internal/kubeconfig"
)

// Run joins the fleet if it must, then heartbeats and reports capacity
// until ctx ends.
func Run(ctx context.Context, o *Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	hostCfg, err := kubeconfig.Load(o.HostKubeconfig)
	if err != nil {
		return err
	}
	// One agent per data directory; the lock is also the lifeline its
	// control planes watch.
	lifeline, err := holdLifeline(o.DataDir)
	if err != nil {
		return err
	}
	defer lifeline.Close()
	hubCfg, err := ensureCredentials(ctx, o)
	if err != nil {
		return err
	}
	ns := fleetv1.HostNamespace(o.HostName)

	// On the management cluster the agent sees its own namespace only.
	mgr, err := ctrl.NewManager(hubCfg, ctrl.Options{
		Scheme:                 apis.Scheme(),
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		HealthProbeBindAddress: o.Serving.HealthProbe,
		Metrics:                o.Serving.MetricsServerAuthorizedBy(hostCfg),
		Controller:             ctrlopts.Controller(ctrlconfig.Controller{}),
	})
	if err != nil {
		return err
	}
	// On the host it sees nodes, and only the pods vfleet placed there.
	host, err := cluster.New(hostCfg, func(co *cluster.Options) {
		co.Scheme = apis.Scheme()
		co.Cache = HostCacheOptions()
	})
	if err != nil {
		return err
	}
	if err := mgr.Add(host); err != nil {
		return err
	}

	clk := clock.RealClock{}
	rep, err := setupReporter(mgr, host, o, clk)
	if err != nil {
		return err
	}

	hostDirect, err := client.New(hostCfg, client.Options{Scheme: apis.Scheme()})
	if err != nil {
		return err
	}
	rt, err := newRuntime(o, hostDirect, ctrl.LoggerFrom(ctx).WithName("runtime"))
	if err != nil {
		return err
	}
	if err := registerMetrics(mgr.GetClient(), rt); err != nil {
		return err
	}
	access, err := newSyncerAccess(ctx, hostDirect, hostCfg, o.VClusterServiceCIDR)
	if err != nil {
		return err
	}
	hubKube, err := kubernetes.NewForConfig(hubCfg)
	if err != nil {
		return err
	}
	hb := newHeartbeat(clk, hubKube, o, rt)
	cps := &controlPlanes{hub: mgr.GetClient(), host: hostDirect, runtime: rt, namespace: ns, syncers: access, fence: hb}
	if err := cps.setup(mgr); err != nil {
		return err
	}
	if err := mgr.Add(hb); err != nil {
		return err
	}
	if err := mgr.Add(&tokenRefresher{creds: credentials{dir: o.DataDir + "/hub"}, kube: hubKube, namespace: ns}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("reported", func(*http.Request) error {
		if !rep.reported.Load() {
			return errors.New("capacity not reported yet")
		}
		return nil
	}); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("Starting the agent", "host", o.HostName, "region", o.Region, "zone", o.Zone)
	return mgr.Start(ctx)
}

// setupReporter registers the controller that reports the host's capacity:
// it runs again whenever a node, a vfleet pod or a ControlPlane changes.
func setupReporter(mgr ctrl.Manager, host cluster.Cluster, o *Options, clk clock.Clock) (*reporter, error) {
	rep := &reporter{
		hub: mgr.GetClient(), host: host.GetClient(), hostName: o.HostName, region: o.Region, zone: o.Zone,
		binRoot: o.BinRoot, overhead: o.overhead(), minInterval: o.ReportMinInterval, clock: clk,
		selfFenceAfter: o.SelfFenceAfter,
	}
	if o.Runtime == RuntimeKubernetes {
		// The binaries are in the image, not on this machine.
		rep.versions = o.ControlPlaneVersions
	}
	toHost := func(context.Context, client.Object) []reconcile.Request { return rep.request() }
	return rep, ctrl.NewControllerManagedBy(mgr).
		Named("capacity").
		WatchesRawSource(source.Kind(host.GetCache(), client.Object(&corev1.Node{}), handler.EnqueueRequestsFromMapFunc(toHost))).
		WatchesRawSource(source.Kind(host.GetCache(), client.Object(&corev1.Pod{}), handler.EnqueueRequestsFromMapFunc(toHost))).
		Watches(&fleetv1.ControlPlane{}, handler.EnqueueRequestsFromMapFunc(toHost)).
		Complete(rep)
}

// newRuntime builds the runtime the options name.
func newRuntime(o *Options, host client.Client, log logr.Logger) (runtime.Runtime, error) {
	dns, err := o.tenantDNS()
	if err != nil {
		return nil, err
	}
	if o.Runtime == RuntimeKubernetes {
		tolerations, err := ParseTolerations(o.ControlPlaneTolerations)
		if err != nil {
			return nil, err
		}
		return kuberuntime.New(host, kuberuntime.Options{
			Image: o.ControlPlaneImage, BinRoot: o.BinRoot, StorageClass: o.ControlPlaneStorageClass,
			NodeSelector: o.ControlPlaneNodeSelector, Tolerations: tolerations,
			DNS: dns, DNSUpstreams: o.TenantDNSUpstreams, HostsFileImage: o.tenantHostsFileImage(),
		})
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	first, last, err := o.portRange()
	if err != nil {
		return nil, err
	}
	return process.New(process.Options{
		Root: filepath.Join(o.DataDir, "controlplanes"), Vfleet: self, BinRoot: o.BinRoot,
		Address: o.ControlPlaneAddress, FirstPort: first, LastPort: last,
		Lifeline: lifelinePath(o.DataDir), OrphanGrace: o.OrphanGrace, MaxStarting: o.MaxStarting, Log: log,
		DNS: dns, DNSUpstreams: o.TenantDNSUpstreams, HostsFileImage: o.tenantHostsFileImage(),
	})
}

func lifelinePath(dataDir string) string { return filepath.Join(dataDir, "agent.lock") }

// holdLifeline takes the agent's lock for as long as it runs.
func holdLifeline(dataDir string) (*os.File, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(lifelinePath(dataDir), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another agent runs with --data-dir %s (%w)", dataDir, err)
	}
	return f, nil
}

// HostCacheOptions keep the agent's host cache narrow: nodes without their
// image lists, and only vfleet-managed pods, stripped to what capacity needs.
func HostCacheOptions() cache.Options {
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Pod{}: {
			Label:     labels.SelectorFromSet(labels.Set{fleetv1.LabelManagedBy: fleetv1.ManagedByValue}),
			Transform: stripPod,
		},
		&corev1.Node{}: {Transform: stripNode},
	}}
}

func stripPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	keep := func(cs []corev1.Container) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i] = corev1.Container{Name: c.Name, Resources: c.Resources, RestartPolicy: c.RestartPolicy}
		}
		return out
	}
	return &corev1.Pod{
		ObjectMeta: stripMeta(p.ObjectMeta),
		Spec: corev1.PodSpec{
			Containers: keep(p.Spec.Containers), InitContainers: keep(p.Spec.InitContainers),
			Overhead: p.Spec.Overhead, Resources: p.Spec.Resources, NodeName: p.Spec.NodeName,
		},
		Status: corev1.PodStatus{Phase: p.Status.Phase},
	}, nil
}

func stripNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return &corev1.Node{
		ObjectMeta: stripMeta(n.ObjectMeta),
		Spec:       corev1.NodeSpec{Unschedulable: n.Spec.Unschedulable, Taints: n.Spec.Taints},
		Status:     corev1.NodeStatus{Allocatable: n.Status.Allocatable, Conditions: n.Status.Conditions},
	}, nil
}

func stripMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Labels: m.Labels, DeletionTimestamp: m.DeletionTimestamp,
	}
}

func newHubClient(cfg *rest.Config) (client.Client, error) {
	return client.New(cfg, client.Options{Scheme: apis.Scheme()})
}

func ctrlKey(name string) types.NamespacedName { return types.NamespacedName{Name: name} }
