// Package kubernetes runs each control plane as a workload of the host
// cluster: a StatefulSet of one `vfleet controlplane` pod in the vcluster's
// host namespace, a Service in front of it, and Secrets for its store
// credentials and the kubeconfig it publishes. It is the runtime for real
// host clusters; the lab's kwok nodes run no containers, so in this
// repository it is checked at the API level.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/vfleet/vfleet/agent/runtime"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controlplane/launch"
	"github.com/vfleet/vfleet/identity"
)

// Names of the objects in a vcluster's host namespace. One control plane
// per namespace, so fixed names do.
const (
	StatefulSetName      = "vfleet-controlplane"
	ServiceName          = "vfleet-apiserver"
	ServiceAccountName   = "vfleet-controlplane"
	BackendSecretName    = "vfleet-store"
	KubeconfigSecretName = "vfleet-kubeconfig"
	IdentitySecretName   = "vfleet-identity"
	apiserverPort        = 6443
	dataVolume           = "data"
	dataMount            = "/data"
	identityVolume       = "identity"
	identityMount        = "/var/run/vfleet/identity"
	// identityHashAnnotation on the pod template: a rotated identity
	// rolls the pod.
	identityHashAnnotation = "fleet.vfleet.dev/identity-hash"
)

// Options configure the kubernetes runtime.
type Options struct {
	// Image runs `vfleet controlplane`, with the Kubernetes binaries of
	// every version the host offers under BinRoot.
	Image   string
	BinRoot string
	// StorageSize of an Embedded control plane's volume.
	StorageSize resource.Quantity
	// StorageClass of that volume; empty means the host's default.
	StorageClass string
	// NodeSelector and Tolerations put control plane pods on the nodes
	// the host keeps for them.
	NodeSelector map[string]string
	Tolerations  []corev1.Toleration
	// DNS is CoreDNS's path in Image, serving each tenant's DNS; empty
	// runs none. DNSUpstreams are asked names outside the vcluster (empty:
	// the pod's own resolver, the host's DNS).
	DNS          string
	DNSUpstreams []string
	// HostsFileImage writes tenant pods' /etc/hosts; see launch.Syncer.
	HostsFileImage string
}

// Runtime is the kubernetes runtime.
type Runtime struct {
	client client.Client
	opts   Options
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns a runtime that works through c, a client of the host.
func New(c client.Client, opts Options) (*Runtime, error) {
	if opts.Image == "" || opts.BinRoot == "" {
		return nil, errors.New("the kubernetes runtime needs an image and the binaries' directory in it")
	}
	if opts.StorageSize.IsZero() {
		opts.StorageSize = resource.MustParse("1Gi")
	}
	return &Runtime{client: c, opts: opts}, nil
}

// Changed implements runtime.Runtime: this runtime does not tell.
func (r *Runtime) Changed() <-chan string { return nil }

// objects are the host objects of inst, as they should be, the
// StatefulSet first: it owns the rest.
func (r *Runtime) objects(inst runtime.Instance) (*appsv1.StatefulSet, []client.Object) {
	ns := inst.Namespace
	labels := map[string]string{
		fleetv1.LabelManagedBy:         fleetv1.ManagedByValue,
		fleetv1.LabelVirtualCluster:    inst.Spec.VirtualCluster.Name,
		fleetv1.LabelVirtualClusterUID: inst.Spec.VirtualCluster.UID,
		fleetv1.LabelControlPlaneApp:   fleetv1.ControlPlaneAppValue,
	}
	selector := map[string]string{fleetv1.LabelControlPlaneApp: fleetv1.ControlPlaneAppValue}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	replicas := int32(1)
	if inst.Spec.Sleeping {
		replicas = 0
	}
	sts := &appsv1.StatefulSet{
		ObjectMeta: meta(StatefulSetName),
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: ServiceName,
			Selector:    &metav1.LabelSelector{MatchLabels: selector},
			// The PVC goes with the StatefulSet: deleting a vcluster
			// deletes its Embedded data.
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
					"fleet.vfleet.dev/epoch": strconv.FormatInt(inst.Spec.Epoch, 10),
				}},
				Spec: corev1.PodSpec{
					ServiceAccountName:           ServiceAccountName,
					AutomountServiceAccountToken: ptr.To(true),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65532)), FSGroup: ptr.To(int64(65532)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers:   []corev1.Container{r.container(inst)},
					NodeSelector: r.opts.NodeSelector,
					Tolerations:  r.opts.Tolerations,
				},
			},
		},
	}
	// One volume for either store: an External control plane keeps only
	// its PKI there, but that must outlive a pod, or the kubeconfigs
	// handed out would stop working.
	pvc := corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: dataVolume, Labels: labels},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: r.opts.StorageSize}},
		},
	}
	if r.opts.StorageClass != "" {
		pvc.Spec.StorageClassName = ptr.To(r.opts.StorageClass)
	}
	sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{pvc}
	objs := []client.Object{}
	if inst.Identity != nil {
		// The vcluster's identity, mounted for the pod's user only (its
		// fsGroup); a new one (rotated) rolls the pod.
		pod := &sts.Spec.Template
		pod.Annotations[identityHashAnnotation] = identity.Hash(inst.Identity)
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: identityVolume, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: IdentitySecretName, DefaultMode: ptr.To(int32(0o440))},
		}})
		objs = append(objs, &corev1.Secret{ObjectMeta: meta(IdentitySecretName), Type: corev1.SecretTypeOpaque, Data: inst.Identity})
	}

	backend := &corev1.Secret{ObjectMeta: meta(BackendSecretName), Type: corev1.SecretTypeOpaque}
	if inst.Backend != "" {
		backend.Data = map[string][]byte{"backend": []byte(inst.Backend)}
	}
	return sts, append(objs,
		&corev1.ServiceAccount{ObjectMeta: meta(ServiceAccountName)},
		// The pod may write its kubeconfig into one Secret, nothing else.
		&rbacv1.Role{ObjectMeta: meta(ServiceAccountName), Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{KubeconfigSecretName}, Verbs: []string{"get", "update"},
		}}},
		&rbacv1.RoleBinding{ObjectMeta: meta(ServiceAccountName),
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: ServiceAccountName},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ServiceAccountName, Namespace: ns}},
		},
		backend,
		&corev1.Secret{ObjectMeta: meta(KubeconfigSecretName), Type: corev1.SecretTypeOpaque},
		&corev1.Service{ObjectMeta: meta(ServiceName), Spec: corev1.ServiceSpec{
			Selector: selector,
			Ports:    []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(apiserverPort)}},
		}},
	)
}

// container runs `vfleet controlplane` for inst in the pod.
func (r *Runtime) container(inst runtime.Instance) corev1.Container {
	ns := inst.Namespace
	server := fmt.Sprintf("https://%s.%s.svc:443", ServiceName, ns)
	cfg := launch.Config{
		Name: inst.Spec.VirtualCluster.Name, DataDir: dataMount, Address: "$(POD_IP)", Port: apiserverPort,
		BinRoot: r.opts.BinRoot, KubernetesVersion: inst.Spec.KubernetesVersion,
		SANs:          serverNames(inst.Spec.ServerName, ServiceName+"."+ns+".svc", ServiceName+"."+ns+".svc.cluster.local"),
		PublishSecret: KubeconfigSecretName, PublishServer: server,
		// The syncer runs as the pod's own account, which the agent binds
		// to the syncer's role in this namespace.
		Syncer: launch.Syncer{
			HostNamespace: ns, VClusterNamespace: inst.Spec.VirtualCluster.Namespace, VClusterUID: inst.Spec.VirtualCluster.UID,
			Isolation: inst.Spec.Isolation, HostsFileImage: r.opts.HostsFileImage,
		},
		ServiceCIDR: inst.Sync.ServiceCIDR,
		DNS:         r.opts.DNS, DNSUpstreams: r.opts.DNSUpstreams,
	}
	mounts := []corev1.VolumeMount{{Name: dataVolume, MountPath: dataMount}}
	if inst.Identity != nil {
		cfg.IdentityDir = identityMount
		mounts = append(mounts, corev1.VolumeMount{Name: identityVolume, MountPath: identityMount, ReadOnly: true})
	}
	env := []corev1.EnvVar{
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: launch.PodNamespaceEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		// The store's endpoint and credentials, from the Secret: neither
		// on the command line nor in the pod spec.
		{Name: launch.BackendEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: BackendSecretName}, Key: "backend", Optional: ptr.To(true),
		}}},
	}
	return corev1.Container{
		Name: "controlplane", Image: r.opts.Image, Args: append([]string{launch.Command}, cfg.Args()...), Env: env,
		Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: apiserverPort}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/readyz", Port: intstr.FromInt32(apiserverPort), Scheme: corev1.URISchemeHTTPS,
		}}, PeriodSeconds: 2},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("384Mi"),
		}},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts: mounts,
	}
}

// Ensure implements runtime.Runtime.
func (r *Runtime) Ensure(ctx context.Context, inst runtime.Instance) (runtime.State, error) {
	want, rest := r.objects(inst)
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.client, sts, func() error {
		sts.Labels = want.Labels
		// The selector and claim templates are immutable once created.
		if sts.CreationTimestamp.IsZero() {
			sts.Spec = want.Spec
		} else {
			sts.Spec.Replicas, sts.Spec.Template = want.Spec.Replicas, want.Spec.Template
		}
		return nil
	}); err != nil {
		return runtime.State{}, fmt.Errorf("statefulset %s/%s: %w", want.Namespace, want.Name, err)
	}
	for _, obj := range rest {
		desired := obj.DeepCopyObject().(client.Object)
		if _, err := controllerutil.CreateOrUpdate(ctx, r.client, obj, func() error {
			obj.SetLabels(desired.GetLabels())
			switch o := obj.(type) {
			case *rbacv1.Role:
				o.Rules = desired.(*rbacv1.Role).Rules
			case *rbacv1.RoleBinding:
				o.Subjects = desired.(*rbacv1.RoleBinding).Subjects
				o.RoleRef = desired.(*rbacv1.RoleBinding).RoleRef
			case *corev1.Service:
				o.Spec.Selector, o.Spec.Ports = desired.(*corev1.Service).Spec.Selector, desired.(*corev1.Service).Spec.Ports
			case *corev1.Secret:
				if o.Name == BackendSecretName || o.Name == IdentitySecretName {
					o.Data = desired.(*corev1.Secret).Data
				}
				// The kubeconfig Secret's data is the pod's to write.
			}
			// Owned by the StatefulSet, so that the host's garbage
			// collector takes them with it.
			return controllerutil.SetControllerReference(sts, obj, r.client.Scheme())
		}); err != nil {
			return runtime.State{}, fmt.Errorf("%T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
		}
	}
	return r.observe(ctx, inst, sts)
}

// observe reads the StatefulSet, its pod and the published kubeconfig.
func (r *Runtime) observe(ctx context.Context, inst runtime.Instance, sts *appsv1.StatefulSet) (runtime.State, error) {
	s := runtime.State{Phase: fleetv1.ControlPlaneStarting, Endpoint: fmt.Sprintf("https://%s.%s.svc:443", ServiceName, inst.Namespace)}
	svc := &corev1.Service{}
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: inst.Namespace, Name: ServiceName}, svc); err != nil && !apierrors.IsNotFound(err) {
		return s, err
	} else if ip := svc.Spec.ClusterIP; err == nil && ip != "" && ip != corev1.ClusterIPNone {
		// By address: the region's gateway, which routes to the
		// endpoint, need not resolve the host cluster's names, only
		// reach its Service network.
		s.Endpoint = "https://" + net.JoinHostPort(ip, "443")
	}
	if inst.Spec.Sleeping {
		s.Phase, s.Message = fleetv1.ControlPlaneSleeping, "sleeping: scaled to zero, its volume kept"
		return s, nil
	}
	pod := &corev1.Pod{}
	err := r.client.Get(ctx, client.ObjectKey{Namespace: inst.Namespace, Name: StatefulSetName + "-0"}, pod)
	if err != nil && !apierrors.IsNotFound(err) {
		return s, err
	}
	if err == nil {
		for _, c := range pod.Status.ContainerStatuses {
			s.Restarts += c.RestartCount
			if w := c.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
				s.Phase = fleetv1.ControlPlaneFailed
				s.Message = "the control plane keeps crashing"
				if t := c.LastTerminationState.Terminated; t != nil && t.Message != "" {
					s.Message += ": " + t.Message
				}
			}
		}
	}
	if s.Phase == fleetv1.ControlPlaneFailed || sts.Status.ReadyReplicas < 1 {
		return s, nil
	}
	secret := &corev1.Secret{}
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: inst.Namespace, Name: KubeconfigSecretName}, secret); err != nil {
		return s, client.IgnoreNotFound(err)
	}
	if kc := secret.Data[fleetv1.KubeconfigKey]; len(kc) > 0 {
		s.Phase, s.Kubeconfig = fleetv1.ControlPlaneRunning, kc
	} else {
		s.Message = "ready, waiting for it to publish its kubeconfig"
	}
	return s, nil
}

// Fence implements runtime.Runtime: every control plane's StatefulSet on
// the host goes to zero replicas.
func (r *Runtime) Fence(ctx context.Context) error {
	var list appsv1.StatefulSetList
	if err := r.client.List(ctx, &list, client.MatchingLabels{fleetv1.LabelManagedBy: fleetv1.ManagedByValue}); err != nil {
		return err
	}
	var errs []error
	for i := range list.Items {
		sts := &list.Items[i]
		if sts.Spec.Replicas != nil && *sts.Spec.Replicas == 0 {
			continue
		}
		before := sts.DeepCopy()
		sts.Spec.Replicas = ptr.To[int32](0)
		errs = append(errs, r.client.Patch(ctx, sts, client.MergeFrom(before)))
	}
	return errors.Join(errs...)
}

// Remove implements runtime.Runtime. It deletes every object explicitly,
// not only the StatefulSet: garbage collection would take the rest, but
// only eventually, and a cluster without it (envtest) never.
func (r *Runtime) Remove(ctx context.Context, inst runtime.Instance) error {
	sts, rest := r.objects(inst)
	objs := append([]client.Object{sts}, rest...)
	for _, obj := range objs {
		if err := r.client.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("%T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
		}
	}
	// The claim of its Embedded data, should the StatefulSet controller not
	// get to it first.
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: inst.Namespace, Name: dataVolume + "-" + StatefulSetName + "-0"}}
	return client.IgnoreNotFound(r.client.Delete(ctx, pvc))
}

// serverNames are the names the apiserver's certificate covers: its
// Service's, and the gateway's server name for the vcluster, if any.
func serverNames(gateway string, names ...string) []string {
	if gateway != "" {
		names = append(names, gateway)
	}
	return names
}
