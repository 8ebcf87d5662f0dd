package agent

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/agent/runtime"
)

// Syncer tokens last a day and are renewed when half of it is gone; the
// agent looks at each running control plane at least every tokenCheck.
const (
	syncerTokenLifetime = 24 * time.Hour
	tokenCheck          = time.Hour
)

// syncerAccess hands each control plane's syncer what it needs to reach
// the host: the host's address and CA, a token of the vcluster's syncer
// account, and the host's Service range.
type syncerAccess struct {
	host        client.Client
	server      string
	ca          []byte
	serviceCIDR string

	mu     sync.Mutex
	tokens map[string]syncerToken // by host namespace
}

type syncerToken struct {
	value   string
	expires time.Time
}

func newSyncerAccess(ctx context.Context, host client.Client, cfg *rest.Config, fallbackCIDR string) (*syncerAccess, error) {
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			return nil, err
		}
	}
	return &syncerAccess{host: host, server: cfg.Host, ca: ca, serviceCIDR: hostServiceCIDR(ctx, host, fallbackCIDR), tokens: map[string]syncerToken{}}, nil
}

// hostServiceCIDR reads the host's Service range from its default
// ServiceCIDR object, so that a vcluster's Services can take the host's
// ClusterIPs; hosts older than that API get the configured range.
func hostServiceCIDR(ctx context.Context, host client.Reader, fallback string) string {
	sc := &networkingv1.ServiceCIDR{}
	if err := host.Get(ctx, client.ObjectKey{Name: "kubernetes"}, sc); err == nil && len(sc.Spec.CIDRs) > 0 {
		return sc.Spec.CIDRs[0]
	}
	return fallback
}

// known returns the syncer settings for host namespace ns without asking
// the host: the token only if one is already at hand.
func (a *syncerAccess) known(ns string) runtime.Sync {
	a.mu.Lock()
	defer a.mu.Unlock()
	return runtime.Sync{HostServer: a.server, HostCA: a.ca, HostToken: a.tokens[ns].value, ServiceCIDR: a.serviceCIDR}
}

// sync returns the syncer settings for the vcluster in host namespace ns.
func (a *syncerAccess) sync(ctx context.Context, ns string) (runtime.Sync, error) {
	token, err := a.token(ctx, ns)
	if err != nil {
		return runtime.Sync{}, fmt.Errorf("token of the syncer's account %s/%s: %w", ns, SyncerAccount, err)
	}
	return runtime.Sync{HostServer: a.server, HostCA: a.ca, HostToken: token, ServiceCIDR: a.serviceCIDR}, nil
}

func (a *syncerAccess) token(ctx context.Context, ns string) (string, error) {
	a.mu.Lock()
	t, ok := a.tokens[ns]
	a.mu.Unlock()
	if ok && time.Until(t.expires) > syncerTokenLifetime/2 {
		return t.value, nil
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(syncerTokenLifetime.Seconds()))}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: SyncerAccount}}
	if err := a.host.SubResource("token").Create(ctx, sa, req); err != nil {
		return "", err
	}
	a.mu.Lock()
	a.tokens[ns] = syncerToken{value: req.Status.Token, expires: req.Status.ExpirationTimestamp.Time}
	a.mu.Unlock()
	return req.Status.Token, nil
}

// forget drops the token of a vcluster that is gone.
func (a *syncerAccess) forget(ns string) {
	a.mu.Lock()
	delete(a.tokens, ns)
	a.mu.Unlock()
}
