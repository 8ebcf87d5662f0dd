package identity_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/vfleet/vfleet/identity"
)

func newData(t *testing.T, name string) map[string][]byte {
	t.Helper()
	id, err := identity.New(name)
	if err != nil {
		t.Fatal(err)
	}
	data, err := id.Data()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestRoundTrip: an identity read back from its data, or from its files,
// is the same identity, and its hash follows its data.
func TestRoundTrip(t *testing.T) {
	data := newData(t, "a")
	id, err := identity.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	again, err := id.Data()
	if err != nil {
		t.Fatal(err)
	}
	if identity.Hash(again) != identity.Hash(data) {
		t.Error("an identity's data changed through Parse")
	}
	dir := t.TempDir()
	if err := identity.Write(dir, data); err != nil {
		t.Fatal(err)
	}
	read, err := identity.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !read.CA.Cert.Equal(id.CA.Cert) || string(read.Admin.CertPEM) != string(id.Admin.CertPEM) {
		t.Error("an identity read from its files is another")
	}

	// A new admin certificate is the same CA's, and changes the hash.
	if err := id.IssueAdmin(); err != nil {
		t.Fatal(err)
	}
	renewed, err := id.Data()
	if err != nil {
		t.Fatal(err)
	}
	if identity.Hash(renewed) == identity.Hash(data) {
		t.Error("a new admin certificate left the hash as it was")
	}
	if _, err := identity.Parse(renewed); err != nil {
		t.Errorf("an identity with a renewed admin: %v", err)
	}
	if id.AdminDue(time.Now()) || !id.AdminDue(time.Now().AddDate(5, 0, 0)) {
		t.Error("AdminDue: a new certificate is due, or one five years on is not")
	}
}

// TestParseRefuses: data that is not one whole identity is refused, saying
// what is wrong.
func TestParseRefuses(t *testing.T) {
	a, b := newData(t, "a"), newData(t, "b")
	with := func(changes map[string][]byte) map[string][]byte {
		d := maps.Clone(a)
		for k, v := range changes {
			if v == nil {
				delete(d, k)
			} else {
				d[k] = v
			}
		}
		return d
	}
	for _, tc := range []struct {
		name string
		data map[string][]byte
		want string
	}{
		{"a missing key", with(map[string][]byte{identity.SAKey: nil}), "missing [sa.key]"},
		{"an unknown key", with(map[string][]byte{"token": []byte("x")}), "unknown [token]"},
		{"another CA's key", with(map[string][]byte{identity.CAKey: b[identity.CAKey]}), "ca.crt: the key is not the certificate's"},
		{"a leaf as the CA", with(map[string][]byte{identity.CACert: a[identity.AdminCert], identity.CAKey: a[identity.AdminKey]}), "not a CA's"},
		{"garbage as a front-proxy CA", with(map[string][]byte{identity.FrontProxyCACert: []byte("nope")}), "front-proxy-ca.crt: no PEM certificate"},
		{"another signing key's public key", with(map[string][]byte{identity.SAPub: b[identity.SAPub]}), "sa.pub is not the public key of sa.key"},
		{"another vcluster's admin", with(map[string][]byte{identity.AdminCert: b[identity.AdminCert], identity.AdminKey: b[identity.AdminKey]}), "admin.crt is not signed by ca.crt"},
		{"an admin key of another certificate", with(map[string][]byte{identity.AdminKey: b[identity.AdminKey]}), "admin.key is not the key of admin.crt"},
		{"a CA key as the admin's", with(map[string][]byte{identity.AdminCert: a[identity.CACert], identity.AdminKey: a[identity.CAKey]}), "not a client certificate of vfleet:vcluster-admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := identity.Parse(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestReadAnEmptyDirectory: a directory with no identity says which files
// it lacks.
func TestReadAnEmptyDirectory(t *testing.T) {
	_, err := identity.Read(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "missing [ca.crt ca.key") {
		t.Errorf("Read: %v", err)
	}
}
