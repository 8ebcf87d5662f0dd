// Package identity is a vcluster's identity: its CA, front-proxy CA,
// service-account signing key and admin credentials. The hub makes it once
// and keeps it; every epoch of the vcluster, on whichever host, runs with
// the same one, so that the kubeconfigs and service-account tokens handed
// out before a failover or a migration are still trusted after it. A
// control plane issues its own serving and client certificates from it.
//
// It travels as a Secret's data (the hub's copy, and the copy it puts in
// the namespace of the host that runs the current epoch), and as files of
// the same names in the directory the control plane is started with.
package identity

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vfleet/vfleet/internal/pki"
)

// Keys of an identity's data: its Secret's keys and its files' names.
const (
	CACert           = "ca.crt"
	CAKey            = "ca.key"
	FrontProxyCACert = "front-proxy-ca.crt"
	FrontProxyCAKey  = "front-proxy-ca.key"
	SAKey            = "sa.key"
	SAPub            = "sa.pub"
	AdminCert        = "admin.crt"
	AdminKey         = "admin.key"
)

// keys are every key of an identity's data, and nothing else is one.
var keys = []string{CACert, CAKey, FrontProxyCACert, FrontProxyCAKey, SAKey, SAPub, AdminCert, AdminKey}

// AdminUser is the user of the vcluster's admin credentials, in the
// system:masters group: the tenant owns its cluster.
const AdminUser = "vfleet:vcluster-admin"

// AdminGroup is the group of AdminUser.
const AdminGroup = "system:masters"

// Identity is a vcluster's identity.
type Identity struct {
	CA           *pki.CA
	FrontProxyCA *pki.CA
	// SAKey signs service-account tokens; SAPub verifies them.
	SAKey, SAPub []byte
	// Admin is the admin's client certificate, signed by CA: the
	// credentials of the tenant's kubeconfig.
	Admin pki.KeyPair
}

// New makes the identity of the vcluster called name.
func New(name string) (*Identity, error) {
	ca, err := pki.NewCA(name + "-ca")
	if err != nil {
		return nil, err
	}
	fp, err := pki.NewCA(name + "-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	saKey, saPub, err := pki.NewSigningKey()
	if err != nil {
		return nil, err
	}
	id := &Identity{CA: ca, FrontProxyCA: fp, SAKey: saKey, SAPub: saPub}
	return id, id.IssueAdmin()
}

// IssueAdmin issues the admin's credentials again, from the same CA: those
// issued before stay valid until they expire.
func (id *Identity) IssueAdmin() error {
	kp, err := id.CA.Issue(pki.Request{CommonName: AdminUser, Organization: []string{AdminGroup}, Usage: pki.ClientAuth})
	if err != nil {
		return err
	}
	id.Admin = kp
	return nil
}

// AdminDue reports whether the admin's certificate is in the last quarter
// of its life at now, and should be issued again.
func (id *Identity) AdminDue(now time.Time) bool {
	due, _, err := pki.Expiring(id.Admin.CertPEM, now)
	return err != nil || due
}

// Data is the identity as a Secret's data.
func (id *Identity) Data() (map[string][]byte, error) {
	ca, err := id.CA.KeyPair()
	if err != nil {
		return nil, err
	}
	fp, err := id.FrontProxyCA.KeyPair()
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		CACert: ca.CertPEM, CAKey: ca.KeyPEM, FrontProxyCACert: fp.CertPEM, FrontProxyCAKey: fp.KeyPEM,
		SAKey: id.SAKey, SAPub: id.SAPub, AdminCert: id.Admin.CertPEM, AdminKey: id.Admin.KeyPEM,
	}, nil
}

// Parse reads an identity from its data, and checks that it is whole and
// consistent: each key belongs to its certificate, the signing key to its
// public key, and the admin's certificate is the CA's. Whoever can write
// the data can only break their own vcluster, but should be told how.
func Parse(data map[string][]byte) (*Identity, error) {
	var missing, unknown []string
	for _, k := range keys {
		if len(data[k]) == 0 {
			missing = append(missing, k)
		}
	}
	for k := range data {
		if !slices.Contains(keys, k) {
			unknown = append(unknown, k)
		}
	}
	if len(missing) > 0 || len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("an identity has exactly the keys %v: missing %v, unknown %v", keys, missing, unknown)
	}
	ca, err := pki.ParseCA(data[CACert], data[CAKey])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CACert, err)
	}
	fp, err := pki.ParseCA(data[FrontProxyCACert], data[FrontProxyCAKey])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", FrontProxyCACert, err)
	}
	if err := signingPair(data[SAKey], data[SAPub]); err != nil {
		return nil, err
	}
	if err := adminOf(ca, data[AdminCert], data[AdminKey]); err != nil {
		return nil, err
	}
	return &Identity{CA: ca, FrontProxyCA: fp, SAKey: data[SAKey], SAPub: data[SAPub],
		Admin: pki.KeyPair{CertPEM: data[AdminCert], KeyPEM: data[AdminKey]}}, nil
}

// signingPair checks that pubPEM is the public key of keyPEM.
func signingPair(keyPEM, pubPEM []byte) error {
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", SAKey, err)
	}
	pub, err := pki.ParsePublicKey(pubPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", SAPub, err)
	}
	if !pub.Equal(key.Public()) {
		return fmt.Errorf("%s is not the public key of %s", SAPub, SAKey)
	}
	return nil
}

// adminOf checks that the admin's pair is ca's, for AdminUser.
func adminOf(ca *pki.CA, certPEM, keyPEM []byte) error {
	cert, err := pki.ParseCert(certPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", AdminCert, err)
	}
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", AdminKey, err)
	}
	if !pki.Matches(cert, key) {
		return fmt.Errorf("%s is not the key of %s", AdminKey, AdminCert)
	}
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		return fmt.Errorf("%s is not signed by %s: %w", AdminCert, CACert, err)
	}
	if cert.Subject.CommonName != AdminUser || !slices.Equal(cert.Subject.Organization, []string{AdminGroup}) ||
		!slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return fmt.Errorf("%s is not a client certificate of %s in %s", AdminCert, AdminUser, AdminGroup)
	}
	return nil
}

// Hash is a digest of an identity's data: equal data, equal hash. A
// control plane whose identity's hash changed (rotated) is started again.
func Hash(data map[string][]byte) string {
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%d:", k, len(data[k]))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Write keeps data in dir, one file per key, readable by its owner only.
// It writes only what changed, each file whole.
func Write(dir string, data map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, k := range keys {
		path := filepath.Join(dir, k)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data[k]) {
			continue
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data[k], 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}

// Read reads and checks the identity Write kept in dir.
func Read(dir string) (*Identity, error) {
	data := map[string][]byte{}
	for _, k := range keys {
		b, err := os.ReadFile(filepath.Join(dir, k))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		data[k] = b
	}
	id, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("identity in %s: %w", dir, err)
	}
	return id, nil
}
