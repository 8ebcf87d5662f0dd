package controlplane

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/internal/procgroup"
	"github.com/vfleet/vfleet/syncer"
)

// The tenant's DNS is CoreDNS, a child of the control plane like the
// apiserver: it serves the vcluster's Services and pods from the
// vcluster's API as the user dnsUser, which may only list and watch them.
const (
	dnsUser       = "vfleet:dns"
	kubeconfigDNS = "dns.kubeconfig"
	dnsProcess    = "coredns"
)

// dnsRules are what CoreDNS's kubernetes plugin reads.
var dnsRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"services", "namespaces"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
}

// Zones the vcluster answers itself, whatever the class lets pods resolve
// outside it: forwarding a name in them would show the host's own.
var ownZones = []string{"cluster.local", "in-addr.arpa", "ip6.arpa"}

// corefile is the configuration of the tenant's DNS server.
type corefile struct {
	// Address and Port are where it listens (UDP and TCP).
	Address string
	Port    int
	// Kubeconfig reaches the vcluster's API; APIAddress is where pods
	// reach that API, which kubernetes.default.svc names.
	Kubeconfig string
	APIAddress string
	// ExternalNames and Zones are the class's policy for names outside
	// the vcluster; Upstreams the resolvers asked them (empty: those of
	// /etc/resolv.conf).
	ExternalNames fleetv1.ExternalNamesPolicy
	Zones         []string
	Upstreams     []string
}

// String renders the Corefile. cluster.local and the reverse zones are the
// vcluster's: its own Services and pods, and the API's name at the address
// pods are given for it. Other names are forwarded upstream as the policy
// allows; any other is answered NXDOMAIN rather than refused, so that a
// resolver goes on with its search list rather than stopping.
func (c corefile) String() string {
	var b strings.Builder
	listen := func(zones ...string) {
		for i, z := range zones {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%s:%d", z, c.Port)
		}
		fmt.Fprintf(&b, " {\n    bind %s\n    errors\n", c.Address)
	}
	listen(ownZones...)
	if c.APIAddress != "" {
		fmt.Fprintf(&b, "    hosts {\n        %s kubernetes.default.svc.cluster.local\n        fallthrough\n    }\n", c.APIAddress)
	}
	fmt.Fprintf(&b, "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n        kubeconfig %s\n        pods insecure\n        ttl 30\n    }\n    cache 30\n}\n", c.Kubeconfig)
	upstreams := strings.Join(c.Upstreams, " ")
	if upstreams == "" {
		upstreams = "/etc/resolv.conf"
	}
	forward := func(zone string) {
		listen(zone)
		fmt.Fprintf(&b, "    forward . %s\n    cache 30\n}\n", upstreams)
	}
	switch c.ExternalNames {
	case "", fleetv1.ExternalNamesAll:
		forward(".")
		return b.String()
	case fleetv1.ExternalNamesZones:
		for _, z := range forwardZones(c.Zones) {
			forward(z)
		}
	}
	listen(".")
	b.WriteString("    template ANY ANY {\n        rcode NXDOMAIN\n    }\n}\n")
	return b.String()
}

// forwardZones are the zones names may be resolved in upstream: each once,
// and none at or below the vcluster's own.
func forwardZones(zones []string) []string {
	var out []string
	for _, z := range zones {
		z = strings.TrimSuffix(strings.ToLower(z), ".")
		own := slices.ContainsFunc(ownZones, func(o string) bool { return z == o || strings.HasSuffix(z, "."+o) })
		if z == "" || own || slices.Contains(out, z) {
			continue
		}
		out = append(out, z)
	}
	return out
}

// freeDNSPort finds a port free on addr for both UDP and TCP.
func freeDNSPort(addr string) (int, error) {
	var last error
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(addr, strconv.Itoa(port)))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return port, nil
		}
		last = err
	}
	return 0, fmt.Errorf("no port free for both UDP and TCP on %s: %w", addr, last)
}

// prepareDNS gets the tenant's DNS ready to start: its port, its rights in
// the vcluster, and its Corefile. It returns the port.
func (cp *ControlPlane) prepareDNS(ctx context.Context) (int, error) {
	sc := cp.cfg.Sync
	port, err := freeDNSPort(cp.cfg.Address)
	if err != nil {
		return 0, err
	}
	if err := cp.grantDNS(ctx); err != nil {
		return 0, fmt.Errorf("DNS rights: %w", err)
	}
	cf := corefile{
		Address: cp.cfg.Address, Port: port, Kubeconfig: cp.pki(kubeconfigDNS), APIAddress: cp.cfg.Address,
		ExternalNames: sc.Isolation.ExternalNames, Zones: sc.Isolation.ExternalNameZones, Upstreams: sc.DNSUpstreams,
	}
	if err := os.WriteFile(cp.dnsCorefile(), []byte(cf.String()), 0o600); err != nil {
		return 0, err
	}
	return port, nil
}

func (cp *ControlPlane) dnsCorefile() string { return filepath.Join(cp.cfg.DataDir, "Corefile") }

// grantDNS lets dnsUser read what it serves, and nothing else.
func (cp *ControlPlane) grantDNS(ctx context.Context) error {
	cfg, err := kubeconfig.RESTConfig(cp.Kubeconfig())
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	meta := metav1.ObjectMeta{Name: dnsUser, Labels: map[string]string{fleetv1.LabelManagedBy: fleetv1.ManagedByValue}}
	role := &rbacv1.ClusterRole{ObjectMeta: meta, Rules: dnsRules}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		_, err = kube.RbacV1().ClusterRoles().Update(ctx, role, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: dnsUser},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: dnsUser}},
	}
	_, err = kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Its roleRef cannot change, and it has only ever had this one.
		_, err = kube.RbacV1().ClusterRoleBindings().Update(ctx, binding, metav1.UpdateOptions{})
	}
	return err
}

// startDNS starts the tenant's DNS under supervision, when the control
// plane has one, and returns where it listens; nil when it has none or it
// could not be prepared, which the status says.
func (cp *ControlPlane) startDNS(ctx context.Context, wg *sync.WaitGroup) *syncer.Endpoint {
	if cp.cfg.Sync == nil || cp.cfg.Sync.DNS == "" {
		return nil
	}
	port, err := cp.prepareDNS(ctx)
	if err != nil {
		fmt.Fprintf(cp.cfg.Log, "control plane %s: no DNS for the tenant: %v\n", cp.cfg.Name, err)
		cp.setStatus(func(s *Status) { s.Message = "no DNS for the tenant: " + err.Error() })
		return nil
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		cp.supervise(ctx, dnsProcess, cp.dnsSpec)
	}()
	return &syncer.Endpoint{Address: cp.cfg.Address, Port: port}
}

// dnsSpec runs CoreDNS on the Corefile, with a small heap: it serves one
// tenant.
func (cp *ControlPlane) dnsSpec() procgroup.Spec {
	return procgroup.Spec{
		Name:    cp.cfg.Name + "/" + dnsProcess,
		Path:    cp.cfg.Sync.DNS,
		Args:    []string{"-conf", cp.dnsCorefile()},
		LogFile: filepath.Join(cp.cfg.DataDir, "logs", dnsProcess+".log"),
		Env:     []string{"GOGC=" + envOr("VFLEET_DNS_GOGC", "50"), "GOMAXPROCS=1"},
	}
}
