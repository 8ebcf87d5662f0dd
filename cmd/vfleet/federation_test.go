package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vfleet/vfleet/federation"
	"github.com/vfleet/vfleet/internal/pki"
)

// TestFederationStatus: `vfleet federation status` shows what a member
// sees, and a certificate of another CA gets nothing.
func TestFederationStatus(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("federation")
	if err != nil {
		t.Fatal(err)
	}
	files := func(ca *pki.CA, id string) (cert, key, caFile string) {
		kp, err := ca.Issue(pki.Request{CommonName: id, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.ServerAuth | pki.ClientAuth})
		if err != nil {
			t.Fatal(err)
		}
		if cert, key, err = kp.Write(dir, id); err != nil {
			t.Fatal(err)
		}
		caFile = filepath.Join(dir, id+"-ca.crt")
		if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		return cert, key, caFile
	}
	o := federation.NewOptions()
	o.ID, o.Region, o.Dir, o.Bind, o.Bootstrap = "hub-a", "region-a", filepath.Join(dir, "raft"), "127.0.0.1:0", true
	o.CertFile, o.KeyFile, o.CAFile = files(ca, "hub-a")
	peer, err := o.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Close() })
	deadline := time.Now().Add(20 * time.Second)
	for !peer.IsLeader() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	st, _ := peer.Status()
	addr := st.Leader.Address

	run := func(cert, key, caFile string) (string, error) {
		var out bytes.Buffer
		cmd := newRootCommand()
		cmd.SetOut(&out)
		cmd.SetArgs([]string{"federation", "status", "--peer", addr, "--cert-file", cert, "--key-file", key, "--ca-file", caFile})
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	cert, key, caFile := files(ca, "operator")
	out, err := run(cert, key, caFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Leader:   hub-a " + addr, "MEMBER", "hub-a"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	other, err := pki.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, _ = files(other, "stranger")
	if _, err := run(cert, key, caFile); err == nil {
		t.Error("a certificate of another CA read the status")
	}
}
