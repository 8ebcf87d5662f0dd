package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validOptions() *Options {
	o := NewOptions()
	o.HubURL, o.HubCAFile, o.HostName, o.Region = "https://hub:9443", "/ca.crt", "host-1", "eu-west"
	// A file where CoreDNS would be: only whether it is there is checked.
	o.TenantDNS = os.Args[0]
	return o
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Options)
		want   []string
	}{
		{"defaults with the required flags", func(*Options) {}, nil},
		{"bad host name", func(o *Options) { o.HostName = "Host_1" }, []string{"--host-name"}},
		{"host name too long for its namespace", func(o *Options) { o.HostName = strings.Repeat("a", 52) }, []string{"at most 51 characters"}},
		{"no region", func(o *Options) { o.Region = "" }, []string{"--region is required"}},
		{"plain http hub", func(o *Options) { o.HubURL = "http://hub" }, []string{"https://"}},
		{"no hub CA", func(o *Options) { o.HubCAFile = "" }, []string{"--hub-ca-file is required"}},
		{"both token flags", func(o *Options) { o.BootstrapToken, o.BootstrapTokenFile = "a", "b" }, []string{"exclusive"}},
		{"renew not below duration", func(o *Options) { o.LeaseRenewInterval = 10 * time.Second }, []string{"--lease-renew-interval"}},
		{"negative overhead", func(o *Options) { o.ControlPlaneOverhead.CPU = "-1" }, []string{"--control-plane-overhead-cpu"}},
		{"malformed overhead", func(o *Options) { o.ControlPlaneOverhead.Memory = "lots" }, []string{"--control-plane-overhead-memory"}},
		{"kubernetes runtime without an image", func(o *Options) { o.Runtime = RuntimeKubernetes }, []string{"--control-plane-image"}},
		{"unknown runtime", func(o *Options) { o.Runtime = "docker" }, []string{"--runtime"}},
		{"kubernetes runtime with tolerations", func(o *Options) {
			o.Runtime, o.ControlPlaneImage, o.ControlPlaneTolerations = RuntimeKubernetes, "vfleet:dev", []string{"pool=cp:NoSchedule", "dedicated:NoExecute"}
		}, nil},
		{"a toleration without an effect", func(o *Options) {
			o.Runtime, o.ControlPlaneImage, o.ControlPlaneTolerations = RuntimeKubernetes, "vfleet:dev", []string{"pool=cp"}
		}, []string{"--control-plane-tolerations", "key[=value]:Effect"}},
		{"a toleration with an unknown effect", func(o *Options) {
			o.Runtime, o.ControlPlaneImage, o.ControlPlaneTolerations = RuntimeKubernetes, "vfleet:dev", []string{"pool:Never"}
		}, []string{"--control-plane-tolerations"}},
		{"negative start bound", func(o *Options) { o.MaxStarting = -1 }, []string{"--max-starting-control-planes -1: want 0 (no bound) or more"}},
		{"no start bound", func(o *Options) { o.MaxStarting = 0 }, nil},
		{"reversed port range", func(o *Options) { o.ControlPlanePorts = "17000-16000" }, []string{"--control-plane-ports"}},
		{"control-plane address not an IP", func(o *Options) { o.ControlPlaneAddress = "localhost" }, []string{"--control-plane-address"}},
		{"no CoreDNS where it is looked for", func(o *Options) { o.TenantDNS = "/nowhere/coredns" }, []string{"--tenant-dns /nowhere/coredns: no CoreDNS there", "--tenant-dns= runs vclusters without DNS"}},
		{"no DNS for tenants", func(o *Options) { o.TenantDNS = "" }, nil},
		{"CoreDNS found nowhere", func(o *Options) { o.TenantDNS = TenantDNSAuto; t.Setenv("VFLEET_COREDNS_BIN_DIR", "/nowhere") },
			[]string{"--tenant-dns: no CoreDNS at /nowhere/coredns or /usr/local/bin/coredns", "--tenant-dns= runs vclusters without DNS"}},
		{"CoreDNS found where make binaries builds it", func(o *Options) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "coredns"), nil, 0o755); err != nil {
				t.Fatal(err)
			}
			o.TenantDNS = TenantDNSAuto
			t.Setenv("VFLEET_COREDNS_BIN_DIR", dir)
		}, nil},
		{"the kubernetes runtime looks in its image", func(o *Options) {
			o.Runtime, o.ControlPlaneImage, o.TenantDNS = RuntimeKubernetes, "vfleet:dev", DefaultTenantDNS
		}, nil},
		{"an upstream that is not an address", func(o *Options) { o.TenantDNSUpstreams = []string{"10.96.0.10", "dns.example"} }, []string{"--tenant-dns-upstream", `"dns.example"`}},
		{"everything wrong at once", func(o *Options) { o.Region, o.HubCAFile = "", "" }, []string{"--region", "--hub-ca-file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := validOptions()
			tc.mutate(o)
			err := o.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("valid, want errors mentioning %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBootstrapTokenFromFile(t *testing.T) {
	o := validOptions()
	o.BootstrapTokenFile = filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(o.BootstrapTokenFile, []byte("abcdef.0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := o.bootstrapToken()
	if err != nil || tok != "abcdef.0123456789abcdef" {
		t.Fatalf("token %q err %v", tok, err)
	}
}

func TestTokenLifetime(t *testing.T) {
	// header.payload.signature with payload {"iat":1000,"exp":4600}
	jwt := "e30.eyJpYXQiOjEwMDAsImV4cCI6NDYwMH0.sig"
	iat, exp, err := tokenLifetime(jwt)
	if err != nil || iat.Unix() != 1000 || exp.Unix() != 4600 {
		t.Fatalf("iat %v exp %v err %v", iat.Unix(), exp.Unix(), err)
	}
	for _, bad := range []string{"", "a.b", "e30.bm90IGpzb24.sig", "e30.eyJpYXQiOjUsImV4cCI6NX0.sig"} {
		if _, _, err := tokenLifetime(bad); err == nil {
			t.Errorf("tokenLifetime(%q): no error", bad)
		}
	}
}

// TestTenantHostsFileImage: the image that writes tenant pods' /etc/hosts
// is the control plane's unless named, and none when turned off.
func TestTenantHostsFileImage(t *testing.T) {
	for _, tc := range []struct{ flag, controlPlane, want string }{
		{"", "", ""},
		{"", "vfleet:cp", "vfleet:cp"},
		{"vfleet:hosts", "vfleet:cp", "vfleet:hosts"},
		{TenantHostsFileNone, "vfleet:cp", ""},
	} {
		o := &Options{TenantHostsFileImage: tc.flag, ControlPlaneImage: tc.controlPlane}
		if got := o.tenantHostsFileImage(); got != tc.want {
			t.Errorf("--tenant-hosts-file-image=%q --control-plane-image=%q: %q, want %q", tc.flag, tc.controlPlane, got, tc.want)
		}
	}
}
