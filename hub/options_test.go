package hub

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	valid := func() *Options {
		o := NewOptions()
		o.TLSCertFile, o.TLSKeyFile = "tls.crt", "tls.key"
		return o
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"no TLS", func(o *Options) { o.TLSKeyFile = "" }, "agents join over HTTPS"},
		{"no namespace", func(o *Options) { o.Namespace = "" }, "--namespace is required"},
		{"short token TTL", func(o *Options) { o.AgentTokenTTL = time.Minute }, "--agent-token-ttl"},
		{"negative overhead", func(o *Options) { o.ControlPlaneOverhead.CPU = "-1" }, "--control-plane-overhead-cpu"},
		{"malformed overhead", func(o *Options) { o.ControlPlaneOverhead.Memory = "lots" }, "--control-plane-overhead-memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid()
			tc.mutate(o)
			if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
