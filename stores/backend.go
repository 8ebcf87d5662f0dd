package stores

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/stores/postgres"
)

// A backend string is how a control plane is told its store: a kine
// endpoint (SQLite in its data directory, or a PostgreSQL URL), or an
// EtcdBackend that its apiserver reaches directly. The agent makes it from
// the ControlPlane's spec and the epoch's credentials; the runtimes carry it
// as one opaque value; the control plane starts kine or the apiserver on it.

// sqliteParams are kine's defaults for SQLite: WAL, a generous busy timeout.
const sqliteParams = "_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate&_stmt_cache_size=20&cache=shared"

// Backend is the backend string of an External store for the epoch whose
// credentials are creds, the data of the Secret the hub wrote for it.
func Backend(store fleetv1.ControlPlaneStore, creds map[string][]byte) (string, error) {
	switch store.Driver {
	case fleetv1.DriverPostgreSQL:
		user := string(creds[fleetv1.SecretUsernameKey])
		if user == "" {
			return "", fmt.Errorf("store credentials Secret %s has no %s", store.CredentialsSecret, fleetv1.SecretUsernameKey)
		}
		url := postgres.URL(store.Endpoint, store.Database, user, string(creds[fleetv1.SecretPasswordKey]), string(creds[fleetv1.SecretSSLModeKey]))
		return postgres.WithCA(url, creds[fleetv1.SecretCAKey]), nil
	case fleetv1.DriverEtcd:
		cert, key := creds[fleetv1.SecretTLSCertKey], creds[fleetv1.SecretTLSKeyKey]
		if len(cert) == 0 || len(key) == 0 {
			return "", fmt.Errorf("store credentials Secret %s has no %s and %s", store.CredentialsSecret, fleetv1.SecretTLSCertKey, fleetv1.SecretTLSKeyKey)
		}
		return EtcdBackend{Endpoints: store.Endpoint, Prefix: store.Database, CA: creds[fleetv1.SecretCAKey], Cert: cert, Key: key}.String(), nil
	default:
		return "", fmt.Errorf("the agent cannot run control planes on %s stores", store.Driver)
	}
}

// etcdBackendScheme starts a backend that is an External etcd store.
const etcdBackendScheme = "etcd+json:"

// EtcdBackend is an External etcd store as a control plane reaches it:
// its members, the vcluster's key prefix and the epoch's credentials. It
// travels as one backend string, like a kine endpoint, so that the
// runtimes pass either the same way.
type EtcdBackend struct {
	// Endpoints are the members' client URLs, comma-separated.
	Endpoints string `json:"endpoints"`
	// Prefix is the apiserver's --etcd-prefix.
	Prefix string `json:"prefix"`
	// CA verifies the server; Cert and Key are the epoch's client
	// certificate. PEM.
	CA   []byte `json:"ca,omitempty"`
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
}

// String encodes the backend.
func (b EtcdBackend) String() string {
	data, _ := json.Marshal(b)
	return etcdBackendScheme + base64.RawURLEncoding.EncodeToString(data)
}

// ParseEtcdBackend decodes a backend made by EtcdBackend.String; ok says
// whether backend is one at all.
func ParseEtcdBackend(backend string) (b EtcdBackend, ok bool, err error) {
	enc, ok := strings.CutPrefix(backend, etcdBackendScheme)
	if !ok {
		return EtcdBackend{}, false, nil
	}
	data, err := base64.RawURLEncoding.DecodeString(enc)
	if err == nil {
		err = json.Unmarshal(data, &b)
	}
	if err == nil && (b.Endpoints == "" || b.Prefix == "" || len(b.Cert) == 0 || len(b.Key) == 0) {
		err = errors.New("endpoints, prefix, certificate and key are required")
	}
	if err != nil {
		return EtcdBackend{}, true, fmt.Errorf("etcd backend: %w", err)
	}
	return b, true, nil
}

// EmbeddedBackend is the SQLite database of an Embedded vcluster.
func EmbeddedBackend(dataDir string) string {
	return "sqlite://" + filepath.Join(dataDir, "state.db") + "?" + sqliteParams
}

// Redact hides credentials in a backend URL for messages.
func Redact(backend string) string {
	if b, ok, _ := ParseEtcdBackend(backend); ok {
		return b.Endpoints + b.Prefix
	}
	if i := len("postgres://"); len(backend) > i && backend[:i] == "postgres://" {
		return "postgres://…"
	}
	return backend
}
