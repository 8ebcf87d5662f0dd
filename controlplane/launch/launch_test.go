package launch_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controlplane/launch"
)

// defaults are the command's, with the binaries' place set as the vfleet
// binary sets it.
func defaults() launch.Config {
	c := launch.NewConfig()
	c.BinRoot, c.KubernetesVersion = "/opt/vfleet/k8s", "v1.36.3"
	return c
}

// parse reads args and env back as `vfleet controlplane` does.
func parse(t testing.TB, args, env []string) launch.Config {
	t.Helper()
	c := defaults()
	fs := pflag.NewFlagSet(launch.Command, pflag.ContinueOnError)
	c.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	if fs.NArg() != 0 {
		t.Fatalf("parse %q: positional arguments %q", args, fs.Args())
	}
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	c.ReadEnv(func(k string) string { return vars[k] })
	return c
}

// withDefaults is c as the command sees it: a zero field is the default.
func withDefaults(c launch.Config) launch.Config {
	fillZero(reflect.ValueOf(&c).Elem(), reflect.ValueOf(defaults()))
	return c
}

func fillZero(v, d reflect.Value) {
	for i := range v.NumField() {
		switch f := v.Field(i); {
		case f.Kind() == reflect.Struct:
			fillZero(f, d.Field(i))
		case f.IsZero():
			f.Set(d.Field(i))
		}
	}
}

func roundTrip(t testing.TB, c launch.Config) {
	t.Helper()
	args, env := c.Args(), c.Env()
	for _, a := range args {
		if strings.HasPrefix(a, "--backend") {
			t.Fatalf("the backend is on the command line: %q", a)
		}
	}
	if got, want := parse(t, args, env), withDefaults(c); !reflect.DeepEqual(got, want) {
		t.Fatalf("args %q env %q\nparsed %+v\nwant   %+v", args, env, got, want)
	}
}

// TestRoundTrip renders configs as the runtimes do and parses them back as
// the command does. The runtimes' args are what agents have always written:
// a kubernetes control plane's pod restarts when they change.
func TestRoundTrip(t *testing.T) {
	isolation := fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityRestricted}
	for _, tc := range []struct {
		name string
		cfg  launch.Config
		args []string
	}{
		{name: "zero: every default", cfg: launch.Config{}, args: nil},
		{name: "process runtime", cfg: launch.Config{
			Name: "demo", DataDir: "/var/lib/vfleet/cp/demo.team-a", Address: "10.0.0.5", Port: 16443,
			BinRoot: "/opt/k8s", KubernetesVersion: "v1.35.0", ServiceCIDR: "10.43.0.0/16",
			Lifeline: "/run/vfleet/agent.lock", OrphanGrace: 90 * time.Second, Backend: "postgres://u:secret@db/vc",
			Syncer: launch.Syncer{HostNamespace: "vc-demo", HostKubeconfig: "/var/lib/vfleet/cp/demo.team-a/host.kubeconfig",
				VClusterNamespace: "team-a", VClusterUID: "uid-1", Isolation: isolation},
		}, args: []string{
			"--name=demo", "--data-dir=/var/lib/vfleet/cp/demo.team-a", "--address=10.0.0.5", "--port=16443",
			"--bin-root=/opt/k8s", "--kubernetes-version=v1.35.0",
			"--host-namespace=vc-demo", "--host-kubeconfig=/var/lib/vfleet/cp/demo.team-a/host.kubeconfig",
			"--vcluster-namespace=team-a", "--vcluster-uid=uid-1", "--allow-node-ports=false", "--allow-external-ips=false",
			"--pod-security=Restricted", "--service-cidr=10.43.0.0/16", "--lifeline=/run/vfleet/agent.lock", "--orphan-grace=1m30s",
		}},
		{name: "kubernetes runtime", cfg: launch.Config{
			Name: "demo", DataDir: "/data", Address: "$(POD_IP)", Port: 6443, BinRoot: "/opt/k8s", KubernetesVersion: "v1.36.3",
			SANs:          []string{"vfleet-apiserver.vc-demo.svc", "vfleet-apiserver.vc-demo.svc.cluster.local"},
			PublishSecret: "vfleet-kubeconfig", PublishServer: "https://vfleet-apiserver.vc-demo.svc:443", PodNamespace: "vc-demo",
			Syncer: launch.Syncer{HostNamespace: "vc-demo", VClusterNamespace: "team-a", VClusterUID: "uid-1",
				Isolation: fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityBaseline, AllowNodePorts: true}},
			ServiceCIDR: "10.96.0.0/16",
		}, args: []string{
			"--name=demo", "--data-dir=/data", "--address=$(POD_IP)", "--port=6443", "--bin-root=/opt/k8s", "--kubernetes-version=v1.36.3",
			"--san=vfleet-apiserver.vc-demo.svc", "--san=vfleet-apiserver.vc-demo.svc.cluster.local",
			"--publish-kubeconfig-secret=vfleet-kubeconfig", "--publish-server=https://vfleet-apiserver.vc-demo.svc:443",
			"--host-namespace=vc-demo", "--vcluster-namespace=team-a", "--vcluster-uid=uid-1",
			"--allow-node-ports=true", "--allow-external-ips=false", "--pod-security=Baseline", "--service-cidr=10.96.0.0/16",
		}},
		{name: "a class that opens volume types and endpoint ranges", cfg: launch.Config{
			Syncer: launch.Syncer{HostNamespace: "vc-x", Isolation: fleetv1.IsolationPolicy{
				PodSecurity: fleetv1.PodSecurityBaseline, AllowedVolumeTypes: []string{"nfs", "csi"}, AllowedEndpointCIDRs: []string{"192.0.2.0/24", "2001:db8::/32"},
			}},
		}, args: []string{
			"--host-namespace=vc-x", "--allow-node-ports=false", "--allow-external-ips=false", "--pod-security=Baseline",
			"--allowed-volume-types=nfs,csi", "--allowed-endpoint-cidrs=192.0.2.0/24,2001:db8::/32",
		}},
		{name: "a class that steers pods and lets them run as root", cfg: launch.Config{
			Syncer: launch.Syncer{HostNamespace: "vc-x", Isolation: fleetv1.IsolationPolicy{
				PodSecurity: fleetv1.PodSecurityBaseline, AllowRunAsRoot: true, AllowedNodeLabels: []string{"example.com/gpu", "pool"},
				NodeSelector:       map[string]string{"pool": "tenants", "example.com/tier": "b"},
				AllowedTolerations: []fleetv1.AllowedToleration{{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}, {Key: "example.com/gpu"}},
			}},
		}, args: []string{
			"--host-namespace=vc-x", "--allow-node-ports=false", "--allow-external-ips=false", "--pod-security=Baseline",
			"--allow-run-as-root=true", "--allowed-node-labels=example.com/gpu,pool", "--node-selector=example.com/tier=b,pool=tenants",
			"--allowed-tolerations=dedicated:NoSchedule,example.com/gpu",
		}},
		{name: "a class that resolves only some names outside, a DNS server with its upstreams", cfg: launch.Config{
			Syncer: launch.Syncer{HostNamespace: "vc-x", Isolation: fleetv1.IsolationPolicy{
				PodSecurity: fleetv1.PodSecurityBaseline, ExternalNames: fleetv1.ExternalNamesZones, ExternalNameZones: []string{"example.com", "corp.example"},
			}},
			DNS: "/usr/local/bin/coredns", DNSUpstreams: []string{"10.96.0.10", "[2001:db8::53]:5353"},
		}, args: []string{
			"--host-namespace=vc-x", "--allow-node-ports=false", "--allow-external-ips=false", "--pod-security=Baseline",
			"--external-names=Zones", "--external-name-zones=example.com,corp.example",
			"--dns=/usr/local/bin/coredns", "--dns-upstream=10.96.0.10,[2001:db8::53]:5353",
		}},
		{name: "every switch on, awkward names", cfg: launch.Config{
			SANs: []string{"a,b", `"quoted"`, " lead", "", "multi\nline"},
			Syncer: launch.Syncer{Isolation: fleetv1.IsolationPolicy{AllowExternalIPs: true}, SyncAllConfigMaps: true, SyncAllSecrets: true,
				HostsFileImage: "registry.example/vfleet:1.0"},
		}, args: []string{
			`--san="a,b"`, `--san="""quoted"""`, `--san=" lead"`, `--san=""`, "--san=\"multi\nline\"",
			"--allow-external-ips=true", "--sync-all-configmaps=true", "--sync-all-secrets=true", "--hosts-file-image=registry.example/vfleet:1.0",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.Args(); !reflect.DeepEqual(got, tc.args) {
				t.Errorf("Args()\n got %q\nwant %q", got, tc.args)
			}
			roundTrip(t, tc.cfg)
		})
	}
}

// TestFlagBeatsEnv: --backend, given by hand, wins over the environment.
func TestFlagBeatsEnv(t *testing.T) {
	c := parse(t, []string{"--backend=http://flag"}, []string{launch.BackendEnv + "=http://env"})
	if c.Backend != "http://flag" {
		t.Fatalf("backend %q, want the flag's", c.Backend)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("demo", "/data", "10.0.0.1", 6443, "a.svc", "b,c", int64(time.Minute), "vc-demo", "Baseline", true, false, "postgres://x")
	f.Add("", "", "", 0, "", `"`, int64(-1), "", "", false, true, "")
	f.Fuzz(func(t *testing.T, name, dataDir, address string, port int, san1, san2 string, grace int64,
		hostNS, podSecurity string, nodePorts, syncAll bool, backend string) {
		if strings.Contains(san1+san2, "\r") {
			t.Skip("--san's CSV parser reads \\r\\n as \\n; no name or address holds either")
		}
		roundTrip(t, launch.Config{
			Name: name, DataDir: dataDir, Address: address, Port: port, SANs: []string{san1, san2},
			OrphanGrace: time.Duration(grace), Backend: backend, PodNamespace: hostNS,
			Syncer: launch.Syncer{HostNamespace: hostNS, VClusterUID: name, SyncAllSecrets: syncAll,
				Isolation: fleetv1.IsolationPolicy{PodSecurity: fleetv1.PodSecurityLevel(podSecurity), AllowNodePorts: nodePorts}},
		})
	})
}

// TestTakeEnvLeavesNoCredentials: once read, the store's credentials are
// gone from the environment the control plane's children inherit.
func TestTakeEnvLeavesNoCredentials(t *testing.T) {
	t.Setenv(launch.BackendEnv, "postgres://epoch:hunter2@db:5432/vc")
	var c launch.Config
	c.TakeEnv()
	if c.Backend != "postgres://epoch:hunter2@db:5432/vc" {
		t.Fatalf("backend %q", c.Backend)
	}
	if v, ok := os.LookupEnv(launch.BackendEnv); ok {
		t.Fatalf("%s is still in the environment: %q", launch.BackendEnv, v)
	}
}

// TestBadTolerationEffect: a toleration flag with an effect Kubernetes does
// not have is refused, not read as a wider one.
func TestBadTolerationEffect(t *testing.T) {
	c := defaults()
	fs := pflag.NewFlagSet(launch.Command, pflag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	c.AddFlags(fs)
	err := fs.Parse([]string{"--allowed-tolerations=dedicated:NoSchedul"})
	if err == nil || !strings.Contains(err.Error(), "effect must be NoSchedule, PreferNoSchedule or NoExecute") {
		t.Fatalf("got %v, want the effect refused", err)
	}
}

// TestDNSUpstreams: a resolver is an IP address, with a port or without.
func TestDNSUpstreams(t *testing.T) {
	for _, tc := range []struct {
		upstreams []string
		ok        bool
	}{
		{nil, true},
		{[]string{"10.96.0.10", "10.96.0.11:5353", "2001:db8::53", "[2001:db8::53]:53"}, true},
		{[]string{"dns.example.com"}, false},
		{[]string{"10.96.0.10:0"}, false},
		{[]string{"10.96.0.10:99999"}, false},
		{[]string{"/etc/resolv.conf"}, false},
		{[]string{""}, false},
	} {
		if err := launch.CheckDNSUpstreams(tc.upstreams); (err == nil) != tc.ok {
			t.Errorf("CheckDNSUpstreams(%q) = %v, want ok %v", tc.upstreams, err, tc.ok)
		}
	}
}
