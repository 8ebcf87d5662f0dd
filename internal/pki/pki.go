package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	certValidity = 365 * 24 * time.Hour
	// clockSkew backdates certificates so that a peer whose clock runs a
	// little behind does not reject them as not yet valid.
	clockSkew = 5 * time.Minute
)

// CA is a certificate authority that can issue certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// KeyPair is a certificate and its private key, PEM-encoded.
type KeyPair struct {
	CertPEM []byte
	KeyPEM  []byte
}

// Usage says what a certificate is for.
type Usage int

const (
	// ServerAuth is a TLS serving certificate.
	ServerAuth Usage = 1 << iota
	// ClientAuth is a TLS client certificate; Kubernetes takes the user from
	// the CommonName and the groups from Organization.
	ClientAuth
)

// Request describes a certificate to issue.
type Request struct {
	CommonName   string
	Organization []string
	DNSNames     []string
	IPs          []net.IP
	Usage        Usage
}

// NewCA creates a self-signed certificate authority.
func NewCA(commonName string) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA %q: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CertPEM returns the CA certificate as PEM, the form clients trust it in.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// KeyPair returns the CA's own certificate and key, for writing to disk.
func (ca *CA) KeyPair() (KeyPair, error) {
	keyPEM, err := encodeKey(ca.Key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{CertPEM: ca.CertPEM(), KeyPEM: keyPEM}, nil
}

// Issue signs a new certificate with a fresh key.
func (ca *CA) Issue(req Request) (KeyPair, error) {
	if req.CommonName == "" {
		return KeyPair{}, errors.New("certificate request needs a common name")
	}
	if req.Usage == 0 {
		return KeyPair{}, fmt.Errorf("certificate %q: no usage", req.CommonName)
	}
	key, err := newKey()
	if err != nil {
		return KeyPair{}, err
	}
	serial, err := newSerial()
	if err != nil {
		return KeyPair{}, err
	}
	var ext []x509.ExtKeyUsage
	if req.Usage&ServerAuth != 0 {
		ext = append(ext, x509.ExtKeyUsageServerAuth)
	}
	if req.Usage&ClientAuth != 0 {
		ext = append(ext, x509.ExtKeyUsageClientAuth)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.CommonName, Organization: req.Organization},
		DNSNames:     req.DNSNames,
		IPAddresses:  req.IPs,
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  ext,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return KeyPair{}, fmt.Errorf("issue %q: %w", req.CommonName, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  keyPEM,
	}, nil
}

// NewSigningKey returns a private key and its public key, PEM-encoded, for
// signing service-account tokens.
func NewSigningKey() (privatePEM, publicPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	privatePEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, err
	}
	return privatePEM, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), nil
}

// Write stores the pair as dir/name.crt and dir/name.key; the key is readable
// by its owner only. Each file is replaced whole (written aside, then
// renamed), so that a process that reloads them never reads half of one.
func (kp KeyPair) Write(dir, name string) (certPath, keyPath string, err error) {
	certPath = filepath.Join(dir, name+".crt")
	keyPath = filepath.Join(dir, name+".key")
	if err := replaceFile(keyPath, kp.KeyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := replaceFile(certPath, kp.CertPEM, 0o644); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

func replaceFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Expiring reports whether the first certificate in certPEM is in the last
// quarter of its life at now, when it is due to be issued again, and when
// it expires.
func Expiring(certPEM []byte, now time.Time) (bool, time.Time, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return false, time.Time{}, errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false, time.Time{}, err
	}
	life := cert.NotAfter.Sub(cert.NotBefore)
	return !now.Before(cert.NotAfter.Add(-life / 4)), cert.NotAfter, nil
}

// LoadCA reads a CA written by KeyPair.Write.
func LoadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	ca, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	return ca, nil
}

// ParseCA reads a CA from its PEM certificate and key.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, err
	}
	signer, err := ParseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, errors.New("the certificate is not a CA's")
	}
	if !Matches(cert, signer) {
		return nil, errors.New("the key is not the certificate's")
	}
	return &CA{Cert: cert, Key: signer}, nil
}

// ParseCert reads the first certificate of certPEM.
func ParseCert(certPEM []byte) (*x509.Certificate, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(cb.Bytes)
}

// ParseKey reads a PEM private key as this package writes them (PKCS #8).
func ParseKey(keyPEM []byte) (crypto.Signer, error) {
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("no PEM key")
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("the key cannot sign")
	}
	return signer, nil
}

// Matches reports whether key is the private key of cert.
func Matches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := cert.PublicKey.(PublicKey)
	return ok && pub.Equal(key.Public())
}

// newKey returns an ECDSA P-256 key: accepted by every Kubernetes component
// and etcd, and far cheaper to generate than RSA, which matters when a
// control plane is created on demand.
func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// Issue names a certificate to issue and the file it is written to.
type Issue struct {
	// File is the name, without extension, of dir/<File>.crt and .key.
	File    string
	CA      *CA
	Request Request
}

// IssueAll issues each certificate with a fresh key and writes it to dir.
func IssueAll(dir string, issues []Issue) error {
	for _, it := range issues {
		kp, err := it.CA.Issue(it.Request)
		if err != nil {
			return err
		}
		if _, _, err := kp.Write(dir, it.File); err != nil {
			return err
		}
	}
	return nil
}

// WriteSigningKey writes a new service-account signing key as dir/sa.key,
// readable by its owner only, and its public key as dir/sa.pub.
func WriteSigningKey(dir string) error {
	signKey, verifyKey, err := NewSigningKey()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), signKey, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sa.pub"), verifyKey, 0o644)
}

// Pool is a certificate pool of the PEM certificates in data.
func Pool(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no PEM certificate")
	}
	return pool, nil
}

// PublicKey is a public key that can be compared with another.
type PublicKey interface {
	Equal(crypto.PublicKey) bool
}

// ParsePublicKey reads a PEM public key as NewSigningKey writes them.
func ParsePublicKey(pubPEM []byte) (PublicKey, error) {
	b, _ := pem.Decode(pubPEM)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, errors.New("no PEM public key")
	}
	key, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := key.(PublicKey)
	if !ok {
		return nil, errors.New("an unknown kind of public key")
	}
	return pub, nil
}
