package names

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestJoin(t *testing.T) {
	long := strings.Repeat("a", 60)
	for _, tc := range []struct {
		name  string
		parts []string
		want  string
	}{
		{"short names are joined", []string{"vc-demo", "team-a"}, "vc-demo-x-team-a"},
		{"exactly the limit is kept", []string{strings.Repeat("b", 59), "c"}, strings.Repeat("b", 59) + "-x-c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Join(63, "-x-", tc.parts...); got != tc.want {
				t.Fatalf("Join = %q, want %q", got, tc.want)
			}
		})
	}
	if x, y := Join(63, "-x-", "a-x", "b"), Join(63, "-x-", "a", "x-b"); x == y || !strings.HasPrefix(x, "a-x-x-b-") {
		t.Fatalf("parts that read the same when joined must be told apart: %q %q", x, y)
	}
	a, b := VClusterNamespace(long, "x"), VClusterNamespace(long+"b", "x")
	if a == b || len(a) != 63 || len(b) != 63 {
		t.Fatalf("long names must be cut to 63 and stay distinct: %q %q", a, b)
	}
}

// FuzzVClusterNamespace: any two DNS labels give a valid, deterministic
// label; distinct inputs give distinct names.
func FuzzVClusterNamespace(f *testing.F) {
	f.Add("team-a", "demo", "team-b", "demo")
	f.Add(strings.Repeat("n", 63), strings.Repeat("v", 63), strings.Repeat("n", 63), strings.Repeat("v", 62))
	f.Fuzz(func(t *testing.T, ns1, n1, ns2, n2 string) {
		if len(validation.IsDNS1123Label(ns1))+len(validation.IsDNS1123Label(n1))+len(validation.IsDNS1123Label(ns2))+len(validation.IsDNS1123Label(n2)) > 0 {
			return
		}
		got := VClusterNamespace(ns1, n1)
		if msgs := validation.IsDNS1123Label(got); len(msgs) > 0 {
			t.Fatalf("VClusterNamespace(%q, %q) = %q: %v", ns1, n1, got, msgs)
		}
		if got != VClusterNamespace(ns1, n1) {
			t.Fatal("not deterministic")
		}
		if (ns1 != ns2 || n1 != n2) && got == VClusterNamespace(ns2, n2) {
			t.Fatalf("(%q, %q) and (%q, %q) share %q", ns1, n1, ns2, n2, got)
		}
	})
}

// FuzzHostName: any object name (a DNS subdomain), namespace and vcluster
// name (DNS labels) give a valid DNS label, the same every time, and no
// two different inputs share one.
func FuzzHostName(f *testing.F) {
	f.Add("web-0", "default", "demo", "web", "0-x-default", "demo")
	f.Add("app.config", "team-a", "demo", "app-config", "team-a", "demo")
	f.Add(strings.Repeat("p", 253), "ns", "vc", strings.Repeat("p", 252), "ns", "vc")
	f.Fuzz(func(t *testing.T, n1, ns1, vc1, n2, ns2, vc2 string) {
		for _, s := range []string{n1, n2} {
			if len(validation.IsDNS1123Subdomain(s)) > 0 {
				return
			}
		}
		for _, s := range []string{ns1, vc1, ns2, vc2} {
			if len(validation.IsDNS1123Label(s)) > 0 {
				return
			}
		}
		got := HostName(n1, ns1, vc1)
		if msgs := validation.IsDNS1123Label(got); len(msgs) > 0 {
			t.Fatalf("HostName(%q, %q, %q) = %q: %v", n1, ns1, vc1, got, msgs)
		}
		if got != HostName(n1, ns1, vc1) {
			t.Fatal("not deterministic")
		}
		if (n1 != n2 || ns1 != ns2 || vc1 != vc2) && got == HostName(n2, ns2, vc2) {
			t.Fatalf("(%q, %q, %q) and (%q, %q, %q) share %q", n1, ns1, vc1, n2, ns2, vc2, got)
		}
	})
}

func TestHostName(t *testing.T) {
	for _, tc := range []struct{ name, namespace, vcluster, want string }{
		{"web-0", "default", "demo", "web-0-x-default-x-demo"},
		{"kube-root-ca.crt", "default", "demo", "kube-root-ca-crt-x-default-x-demo-"},
	} {
		got := HostName(tc.name, tc.namespace, tc.vcluster)
		if tc.want[len(tc.want)-1] == '-' {
			// Hashed: the readable part, then the hash.
			if !strings.HasPrefix(got, tc.want) || len(got) != len(tc.want)+hashLen {
				t.Errorf("HostName(%q) = %q, want %q and a hash", tc.name, got, tc.want)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("HostName(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
