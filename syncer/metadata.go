package syncer

import (
	"crypto/sha256"
	"encoding/base32"
	"maps"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TenantLabelDomain holds the tenant's labels on host objects. A label
// means something on the host to whatever selects by it there: the
// control plane's Service, a host NetworkPolicy or mesh, kube-proxy
// (service.kubernetes.io/service-proxy-name), the EndpointSlice
// controller's managed-by, a CNI. No tenant key may reach the host as the
// tenant wrote it, so each is carried under a key of vfleet's own that
// only the syncer's selectors use.
const TenantLabelDomain = "tenant.vfleet.dev"

var labelKeyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// HostLabelKey is the host key of a virtual label key: a name of
// TenantLabelDomain made from its hash, so that every key, whatever its
// length and domain, makes a valid one and none collide in practice.
func HostLabelKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return TenantLabelDomain + "/" + strings.ToLower(labelKeyEncoding.EncodeToString(sum[:20]))
}

// HostLabels is the host form of a virtual object's labels, or of a
// selector over them: each key under HostLabelKey, each value as is.
func HostLabels(virtual map[string]string) map[string]string {
	if len(virtual) == 0 {
		return nil
	}
	out := make(map[string]string, len(virtual))
	for k, v := range virtual {
		out[HostLabelKey(k)] = v
	}
	return out
}

// HostLabelSelector is the host form of a selector over virtual labels.
func HostLabelSelector(sel *metav1.LabelSelector) *metav1.LabelSelector {
	if sel == nil {
		return nil
	}
	out := &metav1.LabelSelector{MatchLabels: HostLabels(sel.MatchLabels)}
	for _, r := range sel.MatchExpressions {
		r.Key, r.Values = HostLabelKey(r.Key), append([]string(nil), r.Values...)
		out.MatchExpressions = append(out.MatchExpressions, r)
	}
	return out
}

// HostPodSelector is the host form of a selector of the pods of one virtual
// namespace: over the host's keys, and only the copies of that namespace's
// pods. A nil selector, which selects nothing, stays nil.
func HostPodSelector(sel *metav1.LabelSelector, namespace string) *metav1.LabelSelector {
	out := HostLabelSelector(sel)
	if out == nil {
		return nil
	}
	out.MatchLabels = InVirtualNamespace(out.MatchLabels, namespace)
	return out
}

// HostLabelKeys is the host form of a list of virtual label keys, as in
// matchLabelKeys.
func HostLabelKeys(keys []string) []string {
	if keys == nil {
		return nil
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = HostLabelKey(k)
	}
	return out
}

// InVirtualNamespace narrows a host selector to the copies of one virtual
// namespace's objects: all of a vcluster's namespaces share one on the
// host.
func InVirtualNamespace(sel map[string]string, namespace string) map[string]string {
	out := maps.Clone(sel)
	if out == nil {
		out = map[string]string{}
	}
	out[LabelVirtualNamespace] = namespace
	return out
}

// VirtualNames rewrites text the host's components wrote about host, the
// copy of the virtual object vkey in hostNamespace, in the virtual names:
// "ns/name", the kubelet's "name_ns(uid)", the name, the namespace and the
// UID alone, longer forms first (at one position the first that matches
// wins).
func VirtualNames(host client.Object, vkey client.ObjectKey, hostNamespace string) *strings.Replacer {
	vuid := host.GetAnnotations()[AnnotationVirtualUID]
	var pairs []string
	if uid := string(host.GetUID()); uid != "" && vuid != "" {
		pairs = append(pairs, host.GetName()+"_"+hostNamespace+"("+uid+")", vkey.Name+"_"+vkey.Namespace+"("+vuid+")", uid, vuid)
	}
	pairs = append(pairs, hostNamespace+"/"+host.GetName(), vkey.Namespace+"/"+vkey.Name, host.GetName(), vkey.Name, hostNamespace, vkey.Namespace)
	return strings.NewReplacer(pairs...)
}
