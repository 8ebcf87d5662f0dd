package launch

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// addIsolationFlags binds p, the policy the syncer enforces, to flags.
func addIsolationFlags(f *pflag.FlagSet, p *fleetv1.IsolationPolicy) {
	f.StringVar((*string)(&p.PodSecurity), "pod-security", string(p.PodSecurity), "Pod Security level pods must meet to reach the host: Baseline or Restricted")
	f.BoolVar(&p.AllowNodePorts, "allow-node-ports", p.AllowNodePorts, "let Services of type NodePort and LoadBalancer reach the host")
	f.BoolVar(&p.AllowExternalIPs, "allow-external-ips", p.AllowExternalIPs, "let Services with externalIPs reach the host")
	f.StringSliceVar(&p.AllowedVolumeTypes, "allowed-volume-types", p.AllowedVolumeTypes, "volume types pods may use beyond configMap, secret, emptyDir, persistentVolumeClaim, downwardAPI and projected")
	f.StringSliceVar(&p.AllowedEndpointCIDRs, "allowed-endpoint-cidrs", p.AllowedEndpointCIDRs, "ranges Services without a selector may send traffic to, beyond the vcluster's own pods")
	f.BoolVar(&p.AllowRunAsRoot, "allow-run-as-root", p.AllowRunAsRoot, "let containers run as user 0")
	f.StringSliceVar(&p.AllowedNodeLabels, "allowed-node-labels", p.AllowedNodeLabels, "node label keys pods may choose nodes by, beyond hostname, os, arch, zone, region and instance type")
	f.StringToStringVar(&p.NodeSelector, "node-selector", p.NodeSelector, "labels of the host nodes every pod runs on, as key=value,...")
	f.Var((*tolerations)(&p.AllowedTolerations), "allowed-tolerations", "node taints pods may tolerate, as key or key:Effect, comma-separated")
	f.StringSliceVar(&p.AllowedPriorityClasses, "allowed-priority-classes", p.AllowedPriorityClasses, "the host's PriorityClasses pods are given by their priority (none when empty: the host's default)")
	f.StringSliceVar(&p.AllowedIngressClasses, "allowed-ingress-classes", p.AllowedIngressClasses, "the host's ingress classes Ingresses may use (none when empty)")
	f.StringSliceVar(&p.AllowedIngressHosts, "allowed-ingress-hosts", p.AllowedIngressHosts, "host names Ingresses may claim: name, *.suffix, or * for all (none when empty)")
	f.StringVar((*string)(&p.Nodes), "nodes", string(p.Nodes), "host nodes the vcluster shows: Schedulable (those its pods could run on) or Used (those they run on)")
	f.StringVar((*string)(&p.ExternalNames), "external-names", string(p.ExternalNames), "names outside the vcluster its pods resolve: All, None, or Zones (those of --external-name-zones)")
	f.StringSliceVar(&p.ExternalNameZones, "external-name-zones", p.ExternalNameZones, "zones whose names pods resolve with --external-names=Zones")
}

// isolationArgs renders p as flags. The switches are stated even when off
// while the syncer runs (on): the policy in force shows in the pod spec and
// the process list. Agents have always written them so, and a StatefulSet
// whose arguments change restarts its pod. The settings added later are
// written only when set, so that the arguments of control planes started
// before they existed stay as they were.
func isolationArgs(p fleetv1.IsolationPolicy, on bool) flags {
	var f flags
	f.add("allow-node-ports", strconv.FormatBool(p.AllowNodePorts), on || p.AllowNodePorts)
	f.add("allow-external-ips", strconv.FormatBool(p.AllowExternalIPs), on || p.AllowExternalIPs)
	f.str("pod-security", string(p.PodSecurity))
	f.str("allowed-volume-types", strings.Join(p.AllowedVolumeTypes, ","))
	f.str("allowed-endpoint-cidrs", strings.Join(p.AllowedEndpointCIDRs, ","))
	f.add("allow-run-as-root", "true", p.AllowRunAsRoot)
	f.str("allowed-node-labels", strings.Join(p.AllowedNodeLabels, ","))
	var sel []string
	for _, k := range slices.Sorted(maps.Keys(p.NodeSelector)) {
		sel = append(sel, k+"="+p.NodeSelector[k])
	}
	f.str("node-selector", strings.Join(sel, ","))
	f.str("allowed-tolerations", (*tolerations)(&p.AllowedTolerations).String())
	f.str("allowed-priority-classes", strings.Join(p.AllowedPriorityClasses, ","))
	f.str("allowed-ingress-classes", strings.Join(p.AllowedIngressClasses, ","))
	f.str("allowed-ingress-hosts", strings.Join(p.AllowedIngressHosts, ","))
	f.str("nodes", string(p.Nodes))
	f.str("external-names", string(p.ExternalNames))
	f.str("external-name-zones", strings.Join(p.ExternalNameZones, ","))
	return f
}

// tolerations is the flag form of the taints pods may tolerate:
// key[:Effect],...
type tolerations []fleetv1.AllowedToleration

func (t *tolerations) String() string {
	out := make([]string, len(*t))
	for i, a := range *t {
		out[i] = a.Key
		if a.Effect != "" {
			out[i] += ":" + string(a.Effect)
		}
	}
	return strings.Join(out, ",")
}

func (t *tolerations) Set(v string) error {
	*t = nil
	for item := range strings.SplitSeq(v, ",") {
		if item == "" {
			continue
		}
		key, effect, _ := strings.Cut(item, ":")
		switch e := corev1.TaintEffect(effect); e {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
			*t = append(*t, fleetv1.AllowedToleration{Key: key, Effect: e})
		default:
			return fmt.Errorf("toleration %q: effect must be NoSchedule, PreferNoSchedule or NoExecute", item)
		}
	}
	return nil
}

func (*tolerations) Type() string { return "tolerations" }
