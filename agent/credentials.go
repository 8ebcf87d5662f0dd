package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/join"
)

// credentials are the agent's own, kept in files under dir: the management
// cluster's URL and CA, the host's namespace, and a ServiceAccount token.
// client-go re-reads the token file, so a renewed token takes effect
// without a restart.
type credentials struct{ dir string }

func (c credentials) path(name string) string { return filepath.Join(c.dir, name) }

// load returns a client configuration and the namespace the credentials
// are for, or ok=false if there are none.
func (c credentials) load() (cfg *rest.Config, namespace string, ok bool) {
	server, err1 := os.ReadFile(c.path("server"))
	ns, err2 := os.ReadFile(c.path("namespace"))
	_, err3 := os.Stat(c.path("token"))
	_, err4 := os.Stat(c.path("ca.crt"))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, "", false
	}
	return &rest.Config{
		Host:            strings.TrimSpace(string(server)),
		BearerTokenFile: c.path("token"),
		TLSClientConfig: rest.TLSClientConfig{CAFile: c.path("ca.crt")},
	}, strings.TrimSpace(string(ns)), true
}

func (c credentials) save(resp *join.Response) error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"server": []byte(resp.Server), "namespace": []byte(resp.Namespace), "ca.crt": resp.CAData} {
		if err := writeAtomic(c.path(name), data, 0o644); err != nil {
			return err
		}
	}
	return c.saveToken(resp.Token)
}

// token is the stored ServiceAccount token, if any: the proof that this
// agent is the host it says when it joins again.
func (c credentials) token() string {
	data, _ := os.ReadFile(c.path("token"))
	return strings.TrimSpace(string(data))
}

func (c credentials) saveToken(token string) error {
	return writeAtomic(c.path("token"), []byte(token), 0o600)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ensureCredentials returns working credentials for the management cluster:
// the stored ones if the API server still accepts them, else new ones from
// joining with the bootstrap token.
func ensureCredentials(ctx context.Context, o *Options) (*rest.Config, error) {
	log := ctrl.LoggerFrom(ctx)
	creds := credentials{dir: filepath.Join(o.DataDir, "hub")}
	if cfg, ns, ok := creds.load(); ok && ns == fleetv1.HostNamespace(o.HostName) {
		err := retry(ctx, "check the stored credentials", func() (bool, error) {
			err := checkCredentials(ctx, cfg, o.HostName)
			return err == nil || apierrors.IsUnauthorized(err), err
		})
		if err == nil {
			log.Info("Using stored credentials", "namespace", ns)
			return cfg, nil
		}
		if !apierrors.IsUnauthorized(err) {
			return nil, err
		}
		log.Info("The stored credentials were rejected; joining again", "error", err.Error())
	}

	token, err := o.bootstrapToken()
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, errors.New("this host has no working credentials and no bootstrap token: pass --bootstrap-token (create one with \"vfleet hub token create\")")
	}
	ca, err := os.ReadFile(o.HubCAFile)
	if err != nil {
		return nil, fmt.Errorf("--hub-ca-file: %w", err)
	}
	var resp *join.Response
	err = retry(ctx, "join the fleet", func() (bool, error) {
		var err error
		resp, err = join.Join(ctx, o.HubURL, ca, token, join.Request{Host: o.HostName, Region: o.Region, Zone: o.Zone, Credential: creds.token()})
		var refused *join.Refused
		return err == nil || errors.As(err, &refused), err
	})
	if err != nil {
		return nil, err
	}
	if err := creds.save(resp); err != nil {
		return nil, fmt.Errorf("store credentials: %w", err)
	}
	log.Info("Joined the fleet", "namespace", resp.Namespace, "tokenExpires", resp.Expiration)
	cfg, _, _ := creds.load()
	return cfg, nil
}

// checkCredentials reads the host's own HostCluster with cfg.
func checkCredentials(ctx context.Context, cfg *rest.Config, host string) error {
	c, err := newHubClient(cfg)
	if err != nil {
		return err
	}
	return c.Get(ctx, ctrlKey(host), &fleetv1.HostCluster{})
}

// retry calls f until it reports done, backing off from 1s to 30s between
// attempts and logging each failure; it returns f's last error.
func retry(ctx context.Context, what string, f func() (done bool, err error)) error {
	delay := time.Second
	for {
		done, err := f()
		if done {
			return err
		}
		ctrl.LoggerFrom(ctx).Info("Retrying", "action", what, "in", delay, "error", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// tokenRefresher renews the agent's ServiceAccount token when two thirds of
// its life have passed, so the bootstrap token is needed only once.
type tokenRefresher struct {
	creds     credentials
	kube      kubernetes.Interface
	namespace string
}

func (t *tokenRefresher) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("token")
	for {
		data, err := os.ReadFile(t.creds.path("token"))
		if err != nil {
			return err
		}
		issued, expires, err := tokenLifetime(string(data))
		wait := 30 * time.Second
		if err == nil {
			wait = time.Until(issued.Add(expires.Sub(issued) * 2 / 3))
		} else {
			log.Error(err, "Cannot read the token's lifetime; renewing soon")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(max(wait, 0)):
		}
		ttl := int64(expires.Sub(issued).Seconds())
		tr, err := t.kube.CoreV1().ServiceAccounts(t.namespace).CreateToken(ctx, fleetv1.AgentServiceAccount,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(max(ttl, 600))}}, metav1.CreateOptions{})
		if err != nil {
			log.Error(err, "Renewing the agent token failed; retrying in 30s")
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(30 * time.Second):
			}
			continue
		}
		if err := t.creds.saveToken(tr.Status.Token); err != nil {
			return err
		}
		log.Info("Renewed the agent token", "expires", tr.Status.ExpirationTimestamp.Time)
	}
}

// tokenLifetime reads the iat and exp claims of a JWT. The signature is the
// API server's business; the agent only schedules its renewal.
func tokenLifetime(jwt string) (issued, expires time.Time, err error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}, time.Time{}, errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	var claims struct {
		IAT int64 `json:"iat"`
		EXP int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, time.Time{}, err
	}
	if claims.EXP <= claims.IAT {
		return time.Time{}, time.Time{}, fmt.Errorf("token claims iat=%d exp=%d", claims.IAT, claims.EXP)
	}
	return time.Unix(claims.IAT, 0), time.Unix(claims.EXP, 0), nil
}
