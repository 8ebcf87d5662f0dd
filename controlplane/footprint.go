package controlplane

import "os"

// A host runs many control planes, most of them idle most of the time, so
// their idle memory is what bounds how many fit. These settings trade a
// little CPU and latency for it; docs/benchmarks.md has the measurements.

// apiserverFootprint are flags that shrink an idle kube-apiserver.
var apiserverFootprint = []string{
	// The watch cache keeps a copy of every object per resource, some tens
	// of MiB for an idle vcluster; without it every watcher of a resource
	// is a watch on kine of its own, and a vcluster starting a thousand
	// pods took 10% longer (docs/benchmarks.md). It stays on;
	// VFLEET_APISERVER_WATCH_CACHE=false trades that for density.
	"--watch-cache=" + envOr("VFLEET_APISERVER_WATCH_CACHE", "true"),
	// Priority and fairness keeps per-flow state and its own objects; one
	// tenant per apiserver has no one to be fair to.
	"--enable-priority-and-fairness=false",
}

// controllerManagerFootprint runs only the controllers a vcluster needs.
// Nodes, volumes and their attachment, IPAM and cloud load balancers
// belong to the host: the syncer copies what the tenant asks for there.
// The taint eviction controller runs: a NoExecute taint the tenant puts on
// its node evicts its pods there, as on any cluster, and the host's own
// taints, mirrored, evict the virtual pods as the host's evict their
// copies, by the same tolerations.
var controllerManagerFootprint = []string{
	"--controllers=*,-nodeipam,-node-lifecycle-controller,-persistentvolume-binder-controller,-persistentvolume-attach-detach-controller," +
		"-persistentvolume-expander-controller,-persistentvolume-protection-controller,-service-lb-controller,-node-route-controller," +
		"-cloud-node-lifecycle-controller,-ephemeral-volume-controller,-ttl-controller,-bootstrap-signer-controller,-token-cleaner-controller",
}

// footprintEnv sets each child's Go garbage collector. The
// controller-manager, which starts once the apiserver is ready, collects
// twice as often (GOGC=50) for a smaller heap. The apiserver keeps Go's
// default: at GOGC=50 it saved about 40 MiB idle but took a second longer to
// become ready on a busy two-core host (docs/benchmarks.md). A soft memory
// limit (GOMEMLIMIT) is off for both: below the start-up peak it makes the
// collector run without pause while the process starts. Each can be set:
// VFLEET_APISERVER_GOGC, VFLEET_KCM_GOGC, VFLEET_APISERVER_GOMEMLIMIT,
// VFLEET_KCM_GOMEMLIMIT.
var footprintEnv = map[string][]string{
	"kube-apiserver":          {"GOGC=" + envOr("VFLEET_APISERVER_GOGC", "100"), "GOMEMLIMIT=" + envOr("VFLEET_APISERVER_GOMEMLIMIT", "off")},
	"kube-controller-manager": {"GOGC=" + envOr("VFLEET_KCM_GOGC", "50"), "GOMEMLIMIT=" + envOr("VFLEET_KCM_GOMEMLIMIT", "off")},
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
