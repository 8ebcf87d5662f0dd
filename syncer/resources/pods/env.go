package pods

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/syncer"
)

// apiServerEnv points in-cluster clients at the vcluster's API server,
// with every variable the host's kubelet gives each pod for the host's own
// kubernetes Service (whatever the pod's enableServiceLinks): a variable
// left out would still say the host's address. That Service's port is
// 443 on every cluster, so the kubelet's names are known; their values are
// the vcluster's.
func apiServerEnv(s *syncer.Context) []corev1.EnvVar {
	if s.APIServerHost == "" {
		return nil
	}
	port := strconv.Itoa(s.APIServerPort)
	url := "tcp://" + hostPort(s.APIServerHost, port)
	return []corev1.EnvVar{
		{Name: "KUBERNETES_SERVICE_HOST", Value: s.APIServerHost},
		{Name: "KUBERNETES_SERVICE_PORT", Value: port},
		{Name: "KUBERNETES_SERVICE_PORT_HTTPS", Value: port},
		{Name: "KUBERNETES_PORT", Value: url},
		{Name: "KUBERNETES_PORT_443_TCP", Value: url},
		{Name: "KUBERNETES_PORT_443_TCP_PROTO", Value: "tcp"},
		{Name: "KUBERNETES_PORT_443_TCP_PORT", Value: port},
		{Name: "KUBERNETES_PORT_443_TCP_ADDR", Value: s.APIServerHost},
	}
}

// serviceLinks are the variables a kubelet would give the pod for the
// Services of its namespace in the vcluster, which the host's kubelet
// cannot know. Nil when the pod turned service links off.
func serviceLinks(ctx context.Context, s *syncer.Context, pod *corev1.Pod) ([]corev1.EnvVar, error) {
	if pod.Spec.EnableServiceLinks != nil && !*pod.Spec.EnableServiceLinks {
		return nil, nil
	}
	var services corev1.ServiceList
	if err := s.Virtual.List(ctx, &services, client.InNamespace(pod.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	// Sorted in a copy of the slice: the objects are the cache's own.
	services.Items = append([]corev1.Service(nil), services.Items...)
	sort.Slice(services.Items, func(i, j int) bool { return services.Items[i].Name < services.Items[j].Name })
	var env []corev1.EnvVar
	for _, svc := range services.Items {
		env = append(env, linkEnv(&svc)...)
	}
	return env, nil
}

// linkEnv follows the kubelet's convention: NAME_SERVICE_HOST and _PORT,
// a variable per named port, and the Docker-link style NAME_PORT_*.
func linkEnv(svc *corev1.Service) []corev1.EnvVar {
	ip := svc.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
		return nil
	}
	name := strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_"))
	first := svc.Spec.Ports[0]
	env := []corev1.EnvVar{
		{Name: name + "_SERVICE_HOST", Value: ip},
		{Name: name + "_SERVICE_PORT", Value: strconv.Itoa(int(first.Port))},
	}
	for _, p := range svc.Spec.Ports {
		if p.Name != "" {
			env = append(env, corev1.EnvVar{Name: name + "_SERVICE_PORT_" + strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), Value: strconv.Itoa(int(p.Port))})
		}
	}
	env = append(env, corev1.EnvVar{Name: name + "_PORT", Value: fmt.Sprintf("%s://%s", strings.ToLower(string(protocol(first))), hostPort(ip, strconv.Itoa(int(first.Port))))})
	for _, p := range svc.Spec.Ports {
		proto := string(protocol(p))
		prefix := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, proto)
		env = append(env,
			corev1.EnvVar{Name: prefix, Value: fmt.Sprintf("%s://%s", strings.ToLower(proto), hostPort(ip, strconv.Itoa(int(p.Port))))},
			corev1.EnvVar{Name: prefix + "_PROTO", Value: strings.ToLower(proto)},
			corev1.EnvVar{Name: prefix + "_PORT", Value: strconv.Itoa(int(p.Port))},
			corev1.EnvVar{Name: prefix + "_ADDR", Value: ip},
		)
	}
	return env
}

func protocol(p corev1.ServicePort) corev1.Protocol {
	if p.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return p.Protocol
}

func hostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// withEnv gives a container the generated variables first, and its own
// after them: what the container sets itself wins, as with the kubelet.
func withEnv(own []corev1.EnvVar, generated ...[]corev1.EnvVar) []corev1.EnvVar {
	set := map[string]bool{}
	for _, e := range own {
		set[e.Name] = true
	}
	var out []corev1.EnvVar
	for _, g := range generated {
		for _, e := range g {
			if !set[e.Name] {
				set[e.Name] = true
				out = append(out, e)
			}
		}
	}
	return append(out, own...)
}
