package syncer

import (
	"maps"
	"net"

	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/names"
)

// Marks on host objects: which vcluster and which virtual object they
// belong to. The labels select; the annotations name.
const (
	// LabelVirtualNamespace holds the virtual namespace of a host object,
	// so that a Service's selector on the host matches only the pods of its
	// own virtual namespace: all of a vcluster's namespaces share one host
	// namespace.
	LabelVirtualNamespace = "fleet.vfleet.dev/virtual-namespace"

	AnnotationVirtualName      = "fleet.vfleet.dev/virtual-name"
	AnnotationVirtualNamespace = "fleet.vfleet.dev/virtual-namespace"
	AnnotationVirtualUID       = "fleet.vfleet.dev/virtual-uid"
	// LabelSyncedFrom marks virtual objects the syncer made from host
	// objects (nodes, events), so that it removes only its own.
	LabelSyncedFrom = "fleet.vfleet.dev/synced-from-host"
)

// Identity names the vcluster a syncer serves.
type Identity struct {
	Name      string
	Namespace string
	UID       string
}

// Context is what every resource works with.
type Context struct {
	// Virtual and Host are cached clients of the two clusters; the host's
	// sees only the vcluster's host namespace and what the syncer marked.
	Virtual client.Client
	Host    client.Client
	// VirtualLive reads the virtual cluster past the cache: the syncer
	// confirms there that an object is gone before it deletes its copy.
	VirtualLive client.Reader
	// HostLive reads the host past the cache, which holds only what the
	// syncer marked: an object of the same name it did not make is seen
	// only there.
	HostLive client.Reader
	// ServiceCIDR is the vcluster's Service range; a host ClusterIP outside
	// it cannot be given to a virtual Service.
	ServiceCIDR *net.IPNet
	// HostNamespace is where all of the vcluster's objects go on the host.
	HostNamespace string
	VCluster      Identity
	Isolation     fleetv1.IsolationPolicy
	// APIServerHost and APIServerPort are where pods on the host reach the
	// virtual API server.
	APIServerHost string
	APIServerPort int
	// VirtualCA verifies the virtual API server; pods get it with their
	// token.
	VirtualCA []byte
	// SyncAllConfigMaps and SyncAllSecrets copy every one, not only those
	// pods use.
	SyncAllConfigMaps bool
	SyncAllSecrets    bool
	// Recorder records Events on virtual objects.
	Recorder events.EventRecorder
	// Kubelet is where the vcluster's apiserver reaches its nodes' kubelet
	// API, shown on each node as a KubeletAddressType address; nil when
	// none serves it.
	Kubelet *Endpoint
	// DNSServer is the ClusterIP of the vcluster's DNS Service on the
	// host, which pods resolve names with; empty leaves them the host's.
	// DNSEndpoint is where that server listens, behind the Service.
	DNSServer   string
	DNSEndpoint *Endpoint
	// HostsFileImage is an image of the vfleet binary, which an init
	// container of each host pod runs to write the pod's /etc/hosts in
	// the vcluster's names (hostsfile); empty leaves the host kubelet's.
	HostsFileImage string
}

// HostsFileContainer is the name of the init container that writes a
// host pod's /etc/hosts: the tenant's pod has none of that name.
const HostsFileContainer = "vfleet-hosts-file"

// HostName is the host name of the virtual object name in namespace.
func (s *Context) HostName(name, namespace string) string {
	return names.HostName(name, namespace, s.VCluster.Name)
}

// HostKey is the host key of a virtual object.
func (s *Context) HostKey(virtual client.Object) client.ObjectKey {
	return client.ObjectKey{Namespace: s.HostNamespace, Name: s.HostName(virtual.GetName(), virtual.GetNamespace())}
}

// Mark sets on host the labels and annotations that tie it to virtual.
func (s *Context) Mark(host, virtual client.Object) {
	labels := host.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[fleetv1.LabelManagedBy] = fleetv1.ManagedByValue
	labels[fleetv1.LabelVirtualClusterUID] = s.VCluster.UID
	labels[LabelVirtualNamespace] = virtual.GetNamespace()
	host.SetLabels(labels)
	ann := host.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationVirtualName] = virtual.GetName()
	ann[AnnotationVirtualNamespace] = virtual.GetNamespace()
	ann[AnnotationVirtualUID] = string(virtual.GetUID())
	host.SetAnnotations(ann)
}

// Owns reports whether host is the syncer's copy of a virtual object in
// this vcluster: an object of the same name that it did not create is not.
func (s *Context) Owns(host client.Object) bool {
	return host.GetLabels()[fleetv1.LabelVirtualClusterUID] == s.VCluster.UID &&
		host.GetLabels()[fleetv1.LabelManagedBy] == fleetv1.ManagedByValue &&
		host.GetAnnotations()[AnnotationVirtualUID] != ""
}

// VirtualKey is the virtual object a host object was made from.
func VirtualKey(host client.Object) (client.ObjectKey, bool) {
	ann := host.GetAnnotations()
	name, ns := ann[AnnotationVirtualName], ann[AnnotationVirtualNamespace]
	return client.ObjectKey{Namespace: ns, Name: name}, name != ""
}

// IsAPIService reports whether obj is, or belongs to, the vcluster's own
// "kubernetes" Service in "default": its API server, which pods reach
// through the address the syncer gives them, never a copy on the host.
func IsAPIService(obj client.Object) bool {
	if obj.GetNamespace() != "default" {
		return false
	}
	return obj.GetName() == "kubernetes" || obj.GetLabels()["kubernetes.io/service-name"] == "kubernetes"
}

// SyncedFromHost is the labels of a virtual copy of a host object (a
// node, a StorageClass, a PersistentVolume): the host's own, and
// LabelSyncedFrom, which marks it the syncer's.
func SyncedFromHost(host map[string]string) map[string]string {
	out := make(map[string]string, len(host)+1)
	maps.Copy(out, host)
	out[LabelSyncedFrom] = "true"
	return out
}
