package hostsfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
)

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name string
		ips  []string
		e    Entries
		want []string // lines after the fixed ones
	}{
		{"hostname only", []string{"10.0.0.5"}, Entries{Hostname: "web"}, []string{"10.0.0.5\tweb"}},
		{"subdomain", []string{"10.0.0.5"}, Entries{Hostname: "web-0", FQDN: "web-0.nginx.shop.svc.cluster.local"},
			[]string{"10.0.0.5\tweb-0.nginx.shop.svc.cluster.local\tweb-0"}},
		{"dual stack", []string{"10.0.0.5", "fd00::5"}, Entries{Hostname: "a"}, []string{"10.0.0.5\ta", "fd00::5\ta"}},
		{"aliases", []string{"10.0.0.5"}, Entries{Hostname: "a", Aliases: []corev1.HostAlias{
			{IP: "10.1.0.1", Hostnames: []string{"kubernetes", "kubernetes.default"}},
		}}, []string{"10.0.0.5\ta", "", "# Entries added by HostAliases.", "10.1.0.1\tkubernetes\tkubernetes.default"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := strings.Split(strings.TrimSuffix(string(Render(tc.ips, tc.e)), "\n"), "\n")
			if lines[0] != Header || lines[1] != "127.0.0.1\tlocalhost" {
				t.Fatalf("file opens with %q, want the kubelet's header and localhost", lines[:2])
			}
			if got := lines[7:]; strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// The file the helper writes from Args' command line is the one Render
// gives for the same entries.
func TestCommandWritesArgsEntries(t *testing.T) {
	e := Entries{Hostname: "db-1", FQDN: "db-1.db.prod.svc.cluster.local", Aliases: []corev1.HostAlias{
		{IP: "10.1.0.1", Hostnames: []string{"kubernetes", "kubernetes.default.svc"}}, {IP: "fd00::1", Hostnames: []string{"v6"}},
	}}
	out := filepath.Join(t.TempDir(), "hosts")
	t.Setenv(PodIPsEnv, "10.0.0.7,fd00::7")
	var c Command
	fs := pflag.NewFlagSet("hosts-file", pflag.ContinueOnError)
	c.AddFlags(fs)
	if err := fs.Parse(Args(out, e)); err != nil {
		t.Fatal(err)
	}
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := Render([]string{"10.0.0.7", "fd00::7"}, e); string(got) != string(want) {
		t.Errorf("wrote:\n%s\nwant:\n%s", got, want)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644: the pod's containers may run as any user", fi.Mode().Perm())
	}
}

func TestCommandRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, ips string
		args      []string
	}{
		{"no address yet", "", []string{"--out=x", "--hostname=a"}},
		{"not an address", "10.0.0.1,bogus", []string{"--out=x", "--hostname=a"}},
		{"bad alias", "10.0.0.1", []string{"--out=x", "--hostname=a", "--alias=nope"}},
		{"no hostname", "10.0.0.1", []string{"--out=x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(PodIPsEnv, tc.ips)
			var c Command
			fs := pflag.NewFlagSet("hosts-file", pflag.ContinueOnError)
			c.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			c.Out = filepath.Join(t.TempDir(), c.Out)
			if err := c.Run(); err == nil {
				t.Error("wrote a file, want an error")
			}
		})
	}
}
