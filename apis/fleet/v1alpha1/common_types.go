package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
)

// Resources is what a virtual cluster may use on its host. It becomes the
// ResourceQuota of the vcluster's host namespace, and placement reserves it.
// Every quantity is bounded above as well as below: placement adds them up
// in int64 milli-units, where "1E19" would round to almost nothing and
// "9223372036854776" would overflow to a negative reservation.
// +kubebuilder:validation:XValidation:rule="quantity(string(self.cpu)).isGreaterThan(quantity('0'))",message="cpu must be positive, for example 2 or 500m"
// +kubebuilder:validation:XValidation:rule="!quantity(string(self.cpu)).isGreaterThan(quantity('10k'))",message="cpu must be at most 10000 (10k cores), for example 2 or 500m"
// +kubebuilder:validation:XValidation:rule="quantity(string(self.memory)).isGreaterThan(quantity('0'))",message="memory must be positive, for example 4Gi or 512Mi"
// +kubebuilder:validation:XValidation:rule="!quantity(string(self.memory)).isGreaterThan(quantity('1Pi'))",message="memory must be at most 1Pi, for example 4Gi or 512Mi"
// +kubebuilder:validation:XValidation:rule="!has(self.storage) || !quantity(string(self.storage)).isLessThan(quantity('0'))",message="storage must not be negative, for example 10Gi"
// +kubebuilder:validation:XValidation:rule="!has(self.storage) || !quantity(string(self.storage)).isGreaterThan(quantity('1Ei'))",message="storage must be at most 1Ei, for example 10Gi"
type Resources struct {
	// cpu is the CPU the vcluster's pods may request in total, for example 2
	// or 500m.
	// +required
	CPU resource.Quantity `json:"cpu"`

	// memory is the memory the vcluster's pods may request in total, for
	// example 4Gi.
	// +required
	Memory resource.Quantity `json:"memory"`

	// pods is the most pods the vcluster may run at once.
	// +optional
	// +kubebuilder:default=110
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	Pods int32 `json:"pods,omitempty"`

	// storage is the total of persistent volume claims, for example 10Gi.
	// +optional
	Storage *resource.Quantity `json:"storage,omitempty"`
}

// ResourceUse is what pods request: their CPU and memory, and how many
// they are. An agent writes it, so it is bounded as Resources is.
// +kubebuilder:validation:XValidation:rule="!quantity(string(self.cpu)).isLessThan(quantity('0')) && !quantity(string(self.cpu)).isGreaterThan(quantity('10M'))",message="cpu must be between 0 and 10M cores"
// +kubebuilder:validation:XValidation:rule="!quantity(string(self.memory)).isLessThan(quantity('0')) && !quantity(string(self.memory)).isGreaterThan(quantity('1Ei'))",message="memory must be between 0 and 1Ei"
type ResourceUse struct {
	// +required
	CPU resource.Quantity `json:"cpu"`
	// +required
	Memory resource.Quantity `json:"memory"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000000
	Pods int32 `json:"pods"`
}

// PodSecurityLevel is a Pod Security Standard level.
// +kubebuilder:validation:Enum=Baseline;Restricted
type PodSecurityLevel string

// Pod Security levels a vcluster may enforce.
const (
	PodSecurityBaseline   PodSecurityLevel = "Baseline"
	PodSecurityRestricted PodSecurityLevel = "Restricted"
)

// IsolationPolicy says what a vcluster's workloads may do on their host.
// +kubebuilder:validation:XValidation:rule="(has(self.externalNames) && self.externalNames == 'Zones') == (has(self.externalNameZones) && size(self.externalNameZones) > 0)",message="externalNameZones lists the zones pods may resolve when externalNames is Zones, and is set only then"
type IsolationPolicy struct {
	// podSecurity is the Pod Security level enforced when pods are synced to
	// the host. A pod that breaks it stays Pending in the vcluster with an
	// Event saying why.
	// +optional
	// +kubebuilder:default=Baseline
	PodSecurity PodSecurityLevel `json:"podSecurity,omitempty"`

	// allowNodePorts lets the vcluster create Services of type NodePort.
	// +optional
	AllowNodePorts bool `json:"allowNodePorts,omitempty"`

	// allowExternalIPs lets the vcluster's Services set externalIPs.
	// +optional
	AllowExternalIPs bool `json:"allowExternalIPs,omitempty"`

	// allowedVolumeTypes are volume types pods may use beyond those that
	// stay within the vcluster's namespace on the host (configMap, secret,
	// emptyDir, persistentVolumeClaim, downwardAPI, projected), named as
	// in a pod's volume: nfs, csi, ephemeral, hostPath. Each opens the host
	// to the vcluster's pods in its own way.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:Enum=hostPath;gitRepo;nfs;iscsi;glusterfs;rbd;flexVolume;cinder;cephfs;flocker;fc;azureFile;vsphereVolume;quobyte;azureDisk;photonPersistentDisk;portworxVolume;scaleIO;storageos;csi;ephemeral;image;gcePersistentDisk;awsElasticBlockStore
	AllowedVolumeTypes []string `json:"allowedVolumeTypes,omitempty"`

	// allowedEndpointCIDRs are ranges a Service without a selector may send
	// traffic to, beyond the vcluster's own pods. Empty allows none: an
	// Endpoints address is the host network's to reach, and the host's API
	// service among it.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self)",message="allowedEndpointCIDRs holds CIDRs such as 10.20.0.0/16"
	AllowedEndpointCIDRs []string `json:"allowedEndpointCIDRs,omitempty"`

	// allowRunAsRoot lets containers run as user 0. Without it a pod that
	// asks for user 0 stays off the host, and every other runs with
	// runAsNonRoot, so that the kubelet refuses an image whose user is
	// root with a message that says so.
	// +optional
	AllowRunAsRoot bool `json:"allowRunAsRoot,omitempty"`

	// allowedNodeLabels are the node label keys pods may choose nodes by
	// (nodeSelector, node affinity), beyond those that say only where a
	// node is and what it runs: kubernetes.io/hostname, kubernetes.io/os,
	// kubernetes.io/arch, topology.kubernetes.io/zone,
	// topology.kubernetes.io/region and node.kubernetes.io/instance-type.
	// A pod that chooses by any other key stays off the host: the host's
	// node labels are the admin's, and may name other tenants' nodes.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=317
	AllowedNodeLabels []string `json:"allowedNodeLabels,omitempty"`

	// nodeSelector keeps every pod of the vcluster on the host nodes with
	// these labels, whatever the pod asks: a node pool of its own. A pod
	// whose nodeSelector wants another value of one of these keys stays
	// off the host.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// allowedTolerations are the node taints pods may tolerate. A pod's
	// toleration passes if one of these has its key and, when set here,
	// its effect; any other is dropped from the host's copy, so that a
	// tainted node stays the admin's to hand out. Tolerations of
	// node.kubernetes.io/not-ready and unreachable with NoExecute always
	// pass: they only say how long a pod waits out a lost node.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	AllowedTolerations []AllowedToleration `json:"allowedTolerations,omitempty"`

	// allowedPriorityClasses are the host's PriorityClasses the
	// vcluster's pods are given, by their priority in the vcluster: each
	// pod gets the allowed class of the highest value at or below its own
	// priority, or the lowest allowed class if none is. Empty gives every
	// pod the host's default priority. Tenants' priorities never reach the
	// host as they are: they would preempt other tenants' pods.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	AllowedPriorityClasses []string `json:"allowedPriorityClasses,omitempty"`

	// allowedIngressClasses are the host's ingress classes the vcluster's
	// Ingresses may use. Empty keeps every Ingress off the host. An
	// Ingress that names no class gets the first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	AllowedIngressClasses []string `json:"allowedIngressClasses,omitempty"`

	// allowedIngressHosts are the host names the vcluster's Ingresses may
	// claim on the host's ingress controllers, which other tenants share:
	// a name, or *.suffix for every name under suffix. "*" allows every
	// name, and Ingresses that claim all names (a rule without a host, a
	// default backend). Empty allows none.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^(\*|(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?)$`
	AllowedIngressHosts []string `json:"allowedIngressHosts,omitempty"`

	// nodes says which of the host's nodes the vcluster shows: Schedulable
	// (the default), each node its pods could be scheduled to (not
	// cordoned, matching nodeSelector, with no NoSchedule or NoExecute
	// taint that allowedTolerations leaves out), ready or not, from the
	// start; or Used, only those its pods run on, while they do. Either
	// way a node a pod of the vcluster runs on is shown. Tools that wait
	// for schedulable nodes before they create anything (installers,
	// autoscalers, the Kubernetes e2e framework) need Schedulable.
	// +optional
	Nodes NodeVisibility `json:"nodes,omitempty"`

	// externalNames says which names outside the vcluster (outside
	// cluster.local) its pods can resolve, through the host's resolver:
	// All (the default), None, or Zones, the names within
	// externalNameZones. Names inside cluster.local are always the
	// vcluster's own, never the host's.
	// +optional
	ExternalNames ExternalNamesPolicy `json:"externalNames,omitempty"`

	// externalNameZones are the zones whose names pods may resolve when
	// externalNames is Zones, for example example.com (and every name
	// below it).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self.all(z, !(z in ['cluster.local', 'in-addr.arpa', 'ip6.arpa']) && !z.endsWith('.cluster.local') && !z.endsWith('.in-addr.arpa') && !z.endsWith('.ip6.arpa'))",message="externalNameZones cannot hold cluster.local, in-addr.arpa, ip6.arpa or a zone below them: the vcluster answers those names itself"
	ExternalNameZones []string `json:"externalNameZones,omitempty"`
}

// NodeVisibility says which host nodes a vcluster shows.
// +kubebuilder:validation:Enum=Schedulable;Used
type NodeVisibility string

// Node visibilities; the empty one is Schedulable.
const (
	NodesSchedulable NodeVisibility = "Schedulable"
	NodesUsed        NodeVisibility = "Used"
)

// ExternalNamesPolicy says which names outside a vcluster its pods resolve.
// +kubebuilder:validation:Enum=All;None;Zones
type ExternalNamesPolicy string

// External name policies; the empty one is All.
const (
	ExternalNamesAll   ExternalNamesPolicy = "All"
	ExternalNamesNone  ExternalNamesPolicy = "None"
	ExternalNamesZones ExternalNamesPolicy = "Zones"
)

// TolerationAllowed says whether a toleration of key and effect is within
// allowed. A toleration of every key (empty key, operator Exists) or of
// every effect is allowed only by an entry as wide.
func TolerationAllowed(key, effect string, allowed []AllowedToleration) bool {
	for _, a := range allowed {
		if a.Key == key && (a.Effect == "" || string(a.Effect) == effect) {
			return true
		}
	}
	return false
}

// BackingStoreType says where a vcluster keeps its state.
// +kubebuilder:validation:Enum=Embedded;External
type BackingStoreType string

// Backing store types.
const (
	// BackingStoreEmbedded keeps state in SQLite on the host. It cannot fail
	// over.
	BackingStoreEmbedded BackingStoreType = "Embedded"
	// BackingStoreExternal keeps state in a database or key prefix on a
	// BackingStore, so the vcluster can come back on another host.
	BackingStoreExternal BackingStoreType = "External"
)

// Labels and annotations vfleet sets.
const (
	// LabelHost names the HostCluster an object belongs to.
	LabelHost = "fleet.vfleet.dev/host"
	// LabelManagedBy marks objects vfleet created and owns.
	LabelManagedBy = "fleet.vfleet.dev/managed-by"
	// ManagedByValue is LabelManagedBy's value.
	ManagedByValue = "vfleet"
	// LabelVirtualCluster, LabelVirtualClusterNamespace and
	// LabelVirtualClusterUID name the VirtualCluster an object serves.
	LabelVirtualCluster          = "fleet.vfleet.dev/virtualcluster"
	LabelVirtualClusterNamespace = "fleet.vfleet.dev/virtualcluster-namespace"
	LabelVirtualClusterUID       = "fleet.vfleet.dev/virtualcluster-uid"

	// LabelControlPlaneApp and ControlPlaneAppValue select the control
	// plane's pod in the vcluster's host namespace (the kubernetes
	// runtime): a label no tenant pod may carry there.
	LabelControlPlaneApp = "app.kubernetes.io/name"
	ControlPlaneAppValue = "vfleet-controlplane"
)

// Keys of the Secrets vfleet writes and reads: kubeconfigs, and
// credentials (a BackingStore's admin, a control plane's store login).
const (
	KubeconfigKey     = "kubeconfig"
	SecretUsernameKey = "username"
	SecretPasswordKey = "password"
	// SecretSSLModeKey is PostgreSQL's sslmode; default require.
	SecretSSLModeKey = "sslmode"
	// SecretTLSCertKey and SecretTLSKeyKey are a client certificate and
	// its key (etcd); SecretCAKey a CA certificate that verifies the server.
	SecretTLSCertKey = "tls.crt"
	SecretTLSKeyKey  = "tls.key"
	SecretCAKey      = "ca.crt"
	// SecretClientCACertKey and SecretClientCAKeyKey are the CA an etcd
	// server trusts for client certificates, with which the hub signs
	// each epoch's.
	SecretClientCACertKey = "client-ca.crt"
	SecretClientCAKeyKey  = "client-ca.key"
)

// PublishedKubeconfigSecret names the Secret, in a host's namespace on the
// management cluster, where the host's agent publishes a control plane's
// admin kubeconfig for the hub to hand to the tenant.
func PublishedKubeconfigSecret(controlPlane string) string { return controlPlane + "-kubeconfig" }

// The ConfigMap, in the hub's namespace, where the leading hub says where
// its /metrics is served, for `vfleet top`: its URL, and the CA of the
// certificate it is served with.
const (
	HubMetricsConfigMap = "vfleet-hub-metrics"
	HubMetricsURLKey    = "url"
	HubMetricsCAKey     = "ca.crt"
)
