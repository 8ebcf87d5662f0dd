package pods

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// What the kubelet allows in a pod's resolv.conf.
const (
	maxNameservers = 3
	maxSearches    = 32
)

// hostDNS points a pod that resolves through its cluster's DNS (the
// ClusterFirst policies, the default) at the vcluster's DNS server, with
// the search path a kubelet gives a pod of namespace, and whatever the pod
// adds in dnsConfig after it, as a kubelet merges it. A pod of policy
// Default keeps its node's resolver, and one of policy None its own
// settings, as on any cluster. Without a DNS server the pod is left as it
// is.
func hostDNS(server string, spec *corev1.PodSpec, namespace string) {
	if server == "" {
		return
	}
	switch spec.DNSPolicy {
	case "", corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
	default:
		return
	}
	cfg := &corev1.PodDNSConfig{
		Nameservers: []string{server},
		Searches:    []string{namespace + ".svc.cluster.local", "svc.cluster.local", "cluster.local"},
		Options:     []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("5")}},
	}
	if own := spec.DNSConfig; own != nil {
		cfg.Nameservers = appendNew(cfg.Nameservers, own.Nameservers...)
		cfg.Searches = appendNew(cfg.Searches, own.Searches...)
		for _, o := range own.Options {
			// The pod's own value of an option wins.
			cfg.Options = slices.DeleteFunc(cfg.Options, func(x corev1.PodDNSConfigOption) bool { return x.Name == o.Name })
			cfg.Options = append(cfg.Options, o)
		}
	}
	cfg.Nameservers = cfg.Nameservers[:min(len(cfg.Nameservers), maxNameservers)]
	cfg.Searches = cfg.Searches[:min(len(cfg.Searches), maxSearches)]
	spec.DNSPolicy, spec.DNSConfig = corev1.DNSNone, cfg
}

// appendNew appends those of items that list does not hold yet.
func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}
