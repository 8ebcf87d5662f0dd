package federation

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vfleet/vfleet/internal/pki"
)

// writePeerFiles writes a hub's certificate of ca, its key and the CA
// into dir, as a hub's flags name them.
func writePeerFiles(t *testing.T, ca *pki.CA, dir, id string) Options {
	t.Helper()
	kp, err := ca.Issue(pki.Request{CommonName: id, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.ServerAuth | pki.ClientAuth})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := kp.Write(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	o := NewOptions()
	o.ID, o.Region, o.Dir, o.Bind = id, "region-"+id, filepath.Join(dir, id), "127.0.0.1:0"
	o.CertFile, o.KeyFile, o.CAFile = cert, key, caFile
	return o
}

// TestStart: a hub's flags start a federation, join one, and restart over
// the state they left; a hub with no state and neither flag says what to
// do.
func TestStart(t *testing.T) {
	ca := newCA(t, "federation")
	dir := t.TempDir()
	ctx := context.Background()

	first := writePeerFiles(t, ca, dir, "hub-a")
	first.Bootstrap = true
	a, err := first.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	eventually(t, "hub-a leads", func() error {
		if !a.IsLeader() {
			return errors.New("not yet")
		}
		return nil
	})

	second := writePeerFiles(t, ca, dir, "hub-b")
	second.Join = string(a.transport.LocalAddr())
	b, err := second.Start(ctx)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if st, _ := a.Status(); len(st.Members) != 2 {
		t.Errorf("members %+v", st.Members)
	}
	// Restarted with the same flags: no second join, no second bootstrap.
	second.Bind = string(b.transport.LocalAddr())
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = second.Start(ctx)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })

	lost := writePeerFiles(t, ca, dir, "hub-c")
	if _, err := lost.Start(ctx); err == nil || !strings.Contains(err.Error(), "--federation-bootstrap") {
		t.Errorf("no state and no flag to get one: %v", err)
	}
	if err := (&Options{ID: "hub-d", Region: "r", Dir: dir, Bootstrap: true, Join: "x:1", ReportEvery: NewOptions().ReportEvery}).Validate(); err == nil || !strings.Contains(err.Error(), "exclude each other") {
		t.Errorf("bootstrap and join: %v", err)
	}
}
