package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func parse(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssueChainsToCA(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	for _, tc := range []struct {
		name string
		req  Request
		eku  x509.ExtKeyUsage
	}{
		{"server", Request{CommonName: "apiserver", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: ServerAuth}, x509.ExtKeyUsageServerAuth},
		{"client", Request{CommonName: "admin", Organization: []string{"system:masters"}, Usage: ClientAuth}, x509.ExtKeyUsageClientAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kp, err := ca.Issue(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			cert := parse(t, kp.CertPEM)
			opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tc.eku}}
			if tc.eku == x509.ExtKeyUsageServerAuth {
				opts.DNSName = "127.0.0.1"
			}
			if _, err := cert.Verify(opts); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if _, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM); err != nil {
				t.Fatalf("key does not match cert: %v", err)
			}
			if tc.req.Organization != nil && cert.Subject.Organization[0] != tc.req.Organization[0] {
				t.Fatalf("organization %v", cert.Subject.Organization)
			}
		})
	}
}

func TestIssueRejectsIncompleteRequests(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue(Request{Usage: ClientAuth}); err == nil {
		t.Error("no common name: want error")
	}
	if _, err := ca.Issue(Request{CommonName: "x"}); err == nil {
		t.Error("no usage: want error")
	}
}

func TestWriteAndLoadCA(t *testing.T) {
	ca, err := NewCA("round-trip")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.KeyPair()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath, err := kp.Write(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	if certPath != filepath.Join(dir, "ca.crt") || keyPath != filepath.Join(dir, "ca.key") {
		t.Fatalf("paths %s %s", certPath, keyPath)
	}
	loaded, err := LoadCA(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(ca.Cert) {
		t.Fatal("loaded certificate differs")
	}
	// The loaded key must still sign certificates that chain to the CA.
	leaf, err := loaded.Issue(Request{CommonName: "leaf", Usage: ClientAuth})
	if err != nil {
		t.Fatal(err)
	}
	if err := parse(t, leaf.CertPEM).CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatal(err)
	}
}

func TestNewSigningKey(t *testing.T) {
	priv, pub, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(pub)
	if b == nil || b.Type != "PUBLIC KEY" {
		t.Fatal("public key is not PEM PUBLIC KEY")
	}
	if _, err := x509.ParsePKIXPublicKey(b.Bytes); err != nil {
		t.Fatal(err)
	}
	b, _ = pem.Decode(priv)
	if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
		t.Fatal(err)
	}
}

func TestIssueAllAndWriteSigningKey(t *testing.T) {
	ca, err := NewCA("set")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err = IssueAll(dir, []Issue{
		{File: "server", CA: ca, Request: Request{CommonName: "s", Usage: ServerAuth}},
		{File: "client", CA: ca, Request: Request{CommonName: "c", Usage: ClientAuth}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteSigningKey(dir); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"server.crt": 0o644, "server.key": 0o600, "client.key": 0o600, "sa.key": 0o600, "sa.pub": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if err := IssueAll(dir, []Issue{{File: "bad", CA: ca, Request: Request{Usage: ClientAuth}}}); err == nil {
		t.Error("a request without a common name was issued")
	}
}

// TestExpiring: a certificate is due in the last quarter of its life.
func TestExpiring(t *testing.T) {
	ca, err := NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Issue(Request{CommonName: "leaf", Usage: ClientAuth})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{now, false},
		{now.Add(270 * 24 * time.Hour), false},
		{now.Add(275 * 24 * time.Hour), true},
		{now.Add(400 * 24 * time.Hour), true},
	} {
		due, expires, err := Expiring(kp.CertPEM, tc.at)
		if err != nil || due != tc.want {
			t.Errorf("at %s: due %v (%v), want %v; expires %s", tc.at, due, err, tc.want, expires)
		}
	}
	if _, _, err := Expiring([]byte("junk"), now); err == nil {
		t.Error("junk was read as a certificate")
	}
}
