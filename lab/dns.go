package lab

import (
	"context"
	"fmt"
	"net"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/vfleet/vfleet/lab/images"
	"github.com/vfleet/vfleet/lab/realnode"
)

// ClusterDNS is the address of a host's DNS (the kube-dns Service), which
// its real nodes' pods resolve names with.
const ClusterDNS = "10.96.0.10"

// dnsName names CoreDNS's objects in kube-system, as kubeadm does; the
// Service keeps the name kube-dns that tools look for.
const (
	dnsName    = "coredns"
	dnsService = "kube-dns"
)

// OutsideNames are names outside any cluster that the lab's DNS answers,
// with OutsideAddress: the lab has no Internet, and they stand in for its
// names, in two zones, so that a test can tell which zones a vcluster
// resolves.
var OutsideNames = []string{"www.vfleet.test", "www.elsewhere.test"}

// OutsideAddress is the address of every name of OutsideNames (TEST-NET-1:
// nothing answers there).
const OutsideAddress = "192.0.2.53"

// corefile serves the cluster's names from the API and OutsideNames, and
// answers every other name that it does not exist: the lab has no upstream
// to forward to, and an answer of failure would stop resolvers before they
// tried the rest of their search list.
const corefile = `vfleet.test:53 elsewhere.test:53 {
    errors
    hosts {
        ` + OutsideAddress + ` www.vfleet.test www.elsewhere.test
    }
}
cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    cache 30
    loop
    reload
}
.:53 {
    errors
    template ANY ANY {
        rcode NXDOMAIN
    }
}
`

// ensureDNS runs CoreDNS on a host with real nodes, as a real cluster
// does: a Deployment on the real nodes (pods of kwok nodes resolve
// nothing), behind the kube-dns Service at ClusterDNS, with read access
// to the API's Services, EndpointSlices, pods and namespaces.
func (c *Cluster) ensureDNS(ctx context.Context) error {
	if c.Host.RealNodes == 0 {
		return nil
	}
	ns := metav1.NamespaceSystem
	labels := map[string]string{"k8s-app": dnsService}
	cl, err := client.New(c.restConfig, client.Options{})
	if err != nil {
		return err
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "system:" + dnsName}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "system:" + dnsName}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: dnsName}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: dnsName}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: dnsService}}
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: dnsName}}
	for _, o := range []struct {
		obj    client.Object
		mutate func()
	}{
		{role, func() {
			role.Rules = []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"services", "pods", "namespaces"}, Verbs: []string{"list", "watch"}},
				{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
			}
		}},
		{binding, func() {
			binding.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name}
			binding.Subjects = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: dnsName}}
		}},
		{sa, func() {}},
		{cm, func() { cm.Data = map[string]string{"Corefile": corefile} }},
		{svc, func() {
			svc.Labels = labels
			svc.Spec.Selector = labels
			svc.Spec.ClusterIP = ClusterDNS
			svc.Spec.Ports = []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
			}
		}},
		{deploy, func() { deploy.Spec = dnsDeployment(labels) }},
	} {
		if _, err := controllerutil.CreateOrUpdate(ctx, cl, o.obj, func() error { o.mutate(); return nil }); err != nil {
			return fmt.Errorf("%s: CoreDNS %T %s: %w", c.Name, o.obj, o.obj.GetName(), err)
		}
	}
	return nil
}

// dnsDeployment runs one CoreDNS on the real nodes, as kubeadm's does:
// not root's rights beyond binding port 53, a read-only root.
func dnsDeployment(labels map[string]string) appsv1.DeploymentSpec {
	return appsv1.DeploymentSpec{
		Replicas: ptr.To(int32(1)),
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{
				ServiceAccountName: dnsName,
				NodeSelector:       map[string]string{realnode.LabelKind: realnode.KindReal},
				Tolerations:        []corev1.Toleration{RealNodeToleration},
				// It is the DNS: it resolves nothing through itself.
				DNSPolicy: corev1.DNSDefault,
				Containers: []corev1.Container{{
					Name: "coredns", Image: images.CoreDNS, Args: []string{"-conf", "/etc/coredns/Corefile"},
					Ports: []corev1.ContainerPort{
						{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
						{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
					},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8181)}}, PeriodSeconds: 1},
					LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 10},
					SecurityContext: &corev1.SecurityContext{
						AllowPrivilegeEscalation: ptr.To(false),
						ReadOnlyRootFilesystem:   ptr.To(true),
						Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}, Drop: []corev1.Capability{"ALL"}},
					},
					VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/coredns", ReadOnly: true}},
				}},
				Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: dnsName},
				}}}},
			},
		},
	}
}

// waitDNS waits until the host's CoreDNS is ready to answer.
func (c *Cluster) waitDNS(ctx context.Context) error {
	if c.Host.RealNodes == 0 {
		return nil
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, workloadTimeout, true, func(ctx context.Context) (bool, error) {
		d, err := c.kube.AppsV1().Deployments(metav1.NamespaceSystem).Get(ctx, dnsName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err == nil && d.Status.ReadyReplicas < 1 {
			last = fmt.Errorf("CoreDNS is not ready")
			return false, nil
		}
		if err != nil {
			return false, err
		}
		// Ready is not yet serving: kube-proxy must have programmed the
		// Service, which pods, and the vclusters' DNS on this machine,
		// reach it by.
		if _, err := clusterResolver().LookupHost(ctx, "kubernetes.default.svc.cluster.local"); err != nil {
			last = fmt.Errorf("CoreDNS does not answer at %s: %w", ClusterDNS, err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%s: DNS: %v (%v)", c.Name, err, last)
	}
	return nil
}

// clusterResolver asks the host's DNS at ClusterDNS, as its pods do.
func clusterResolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := net.Dialer{Timeout: time.Second}
		return d.DialContext(ctx, network, net.JoinHostPort(ClusterDNS, "53"))
	}}
}
