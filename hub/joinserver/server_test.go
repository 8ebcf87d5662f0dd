package joinserver_test

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/hub/joinserver"
	"github.com/vfleet/vfleet/join"
	"github.com/vfleet/vfleet/test/envtest"
)

const tokenNamespace = "vfleet-system"

var (
	k8s    client.Client
	hubURL string
	hubCA  []byte
	now    = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
)

func TestMain(m *testing.M) {
	envtest.Main(m, envtest.Suite{CRDs: true, Setup: startServer})
}

// startServer serves join over TLS with a fake clock, its tokens in
// tokenNamespace.
func startServer(e envtest.Env) (func(), error) {
	k8s = e.Client
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tokenNamespace}}); err != nil {
		return nil, err
	}
	srv := httptest.NewTLSServer(&joinserver.Server{
		Client: k8s, Reader: k8s, Namespace: tokenNamespace, Clock: clocktesting.NewFakePassiveClock(now),
		APIServer: e.Config.Host, CAData: e.Config.CAData, TokenTTL: time.Hour,
	})
	hubURL = srv.URL
	hubCA = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return srv.Close, nil
}

func storeToken(t *testing.T, g join.Grant) join.Token {
	t.Helper()
	tok, err := join.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(context.Background(), tok.StoredAs(tokenNamespace, g)); err != nil {
		t.Fatal(err)
	}
	return tok
}

// clientFor authenticates to the management cluster with what join returned.
func clientFor(t *testing.T, resp *join.Response) client.Client {
	t.Helper()
	c, err := client.New(&rest.Config{Host: resp.Server, BearerToken: resp.Token, TLSClientConfig: rest.TLSClientConfig{CAData: resp.CAData}},
		client.Options{Scheme: apis.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestJoinIssuesCredentialsForTheHostOnly(t *testing.T) {
	ctx := context.Background()
	tok := storeToken(t, join.Grant{Reusable: true})
	resp, err := join.Join(ctx, hubURL, hubCA, tok.String(), join.Request{Host: "edge-1", Region: "eu-west", Zone: "eu-west-1a"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Namespace != fleetv1.HostNamespace("edge-1") || resp.Token == "" || !resp.Expiration.After(time.Now()) {
		t.Fatalf("response %+v", resp)
	}
	host := &fleetv1.HostCluster{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: "edge-1"}, host); err != nil {
		t.Fatalf("join did not register the host: %v", err)
	}
	if host.Spec.Region != "eu-west" || host.Spec.Zone != "eu-west-1a" {
		t.Fatalf("host spec %+v", host.Spec)
	}

	// The token is real: it reads its own HostCluster, and nothing else.
	agent := clientFor(t, resp)
	if err := agent.Get(ctx, client.ObjectKey{Name: "edge-1"}, &fleetv1.HostCluster{}); err != nil {
		t.Fatalf("agent token cannot read its host: %v", err)
	}
	if _, err := join.Join(ctx, hubURL, hubCA, tok.String(), join.Request{Host: "edge-2", Region: "eu-west"}); err != nil {
		t.Fatal(err)
	}
	if err := agent.Get(ctx, client.ObjectKey{Name: "edge-2"}, &fleetv1.HostCluster{}); !apierrors.IsForbidden(err) {
		t.Fatalf("reading another host: %v, want 403", err)
	}
}

func TestJoinRefusals(t *testing.T) {
	ctx := context.Background()
	good := storeToken(t, join.Grant{Reusable: true})
	expired := storeToken(t, join.Grant{Expires: now.Add(-time.Minute)})
	pinned := storeToken(t, join.Grant{Host: "only-me"})
	settled := storeToken(t, join.Grant{Host: "settled"})
	if _, err := join.Join(ctx, hubURL, hubCA, good.String(), join.Request{Host: "settled", Region: "us-east"}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		token  string
		req    join.Request
		status int
		want   string
	}{
		{"wrong secret", good.ID + ".ffffffffffffffff", join.Request{Host: "h", Region: "r"}, http.StatusUnauthorized, "the bootstrap token was rejected"},
		{"unknown id", "zzzzzz.0123456789abcdef", join.Request{Host: "h", Region: "r"}, http.StatusUnauthorized, "vfleet hub token create"},
		{"expired", expired.String(), join.Request{Host: "h", Region: "r"}, http.StatusUnauthorized, "unknown, wrong or expired"},
		{"malformed", "let-me-in", join.Request{Host: "h", Region: "r"}, http.StatusUnauthorized, "looks like abcdef.0123456789abcdef"},
		{"no token", "", join.Request{Host: "h", Region: "r"}, http.StatusUnauthorized, "malformed bootstrap token"},
		{"token for another host", pinned.String(), join.Request{Host: "someone-else", Region: "r"}, http.StatusForbidden, `may only join host "only-me"`},
		{"bad host name", good.String(), join.Request{Host: "Bad_Name", Region: "r"}, http.StatusBadRequest, "host name"},
		{"no region", good.String(), join.Request{Host: "h"}, http.StatusBadRequest, "region is required"},
		{"registered host, unpinned token", good.String(), join.Request{Host: "settled", Region: "us-east"}, http.StatusForbidden, "vfleet hub token create --host settled"},
		{"registered host, other region", settled.String(), join.Request{Host: "settled", Region: "eu-west"}, http.StatusConflict, `registered in region "us-east" but the agent says "eu-west"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := join.Join(ctx, hubURL, hubCA, tc.token, tc.req)
			var refused *join.Refused
			if !errors.As(err, &refused) {
				t.Fatalf("got %v, want a refusal", err)
			}
			if refused.Status != tc.status || !strings.Contains(refused.Message, tc.want) {
				t.Fatalf("refusal %d %q, want %d containing %q", refused.Status, refused.Message, tc.status, tc.want)
			}
		})
	}
	// A refused join registers nothing.
	if err := k8s.Get(ctx, client.ObjectKey{Name: "h"}, &fleetv1.HostCluster{}); !apierrors.IsNotFound(err) {
		t.Fatalf("host h exists after refusals: %v", err)
	}
}

// TestRegisteredHostTakesProof: a bootstrap token registers new hosts; it
// does not let its holder become a host already registered, which would
// hand over that host's namespace, its Secrets among them.
func TestRegisteredHostTakesProof(t *testing.T) {
	ctx := context.Background()
	first := storeToken(t, join.Grant{})
	resp, err := join.Join(ctx, hubURL, hubCA, first.String(), join.Request{Host: "owned", Region: "eu-west"})
	if err != nil {
		t.Fatal(err)
	}
	other := storeToken(t, join.Grant{Reusable: true})
	otherResp, err := join.Join(ctx, hubURL, hubCA, other.String(), join.Request{Host: "neighbour", Region: "eu-west"})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name       string
		credential string
	}{
		{"no credential", ""},
		{"another host's credential", otherResp.Token},
		{"a forged credential", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := join.Join(ctx, hubURL, hubCA, other.String(), join.Request{Host: "owned", Region: "eu-west", Credential: tc.credential})
			var refused *join.Refused
			if !errors.As(err, &refused) || refused.Status != http.StatusForbidden || !strings.Contains(refused.Message, "already registered") {
				t.Fatalf("join as a registered host: %v, want 403 saying it is registered", err)
			}
		})
	}

	// The host's own agent, with its current credential, may join again.
	if _, err := join.Join(ctx, hubURL, hubCA, other.String(), join.Request{Host: "owned", Region: "eu-west", Credential: resp.Token}); err != nil {
		t.Fatalf("join with the host's credential: %v", err)
	}
	// So may anyone with a token the admin pinned to the host.
	pinned := storeToken(t, join.Grant{Host: "owned"})
	if _, err := join.Join(ctx, hubURL, hubCA, pinned.String(), join.Request{Host: "owned", Region: "eu-west"}); err != nil {
		t.Fatalf("join with a pinned token: %v", err)
	}
}

// TestTokensAreSingleUse: a token made without --reusable lets one host in;
// of joins racing with it, exactly one wins.
func TestTokensAreSingleUse(t *testing.T) {
	ctx := context.Background()
	tok := storeToken(t, join.Grant{})
	const racers = 4
	errs := make(chan error, racers)
	for i := range racers {
		go func() {
			_, err := join.Join(ctx, hubURL, hubCA, tok.String(), join.Request{Host: fmt.Sprintf("racer-%d", i), Region: "eu-west"})
			errs <- err
		}()
	}
	joined := 0
	for range racers {
		err := <-errs
		var refused *join.Refused
		switch {
		case err == nil:
			joined++
		case errors.As(err, &refused) && refused.Status == http.StatusUnauthorized:
		default:
			t.Errorf("join: %v, want success or 401", err)
		}
	}
	if joined != 1 {
		t.Fatalf("%d hosts joined with one single-use token, want 1", joined)
	}
	hosts := &fleetv1.HostClusterList{}
	if err := k8s.List(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	registered := 0
	for _, h := range hosts.Items {
		if strings.HasPrefix(h.Name, "racer-") {
			registered++
		}
	}
	if registered != 1 {
		t.Fatalf("%d racer hosts registered, want 1", registered)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: tokenNamespace, Name: join.SecretName(tok.ID)}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the used token's Secret: %v, want it deleted", err)
	}
}

// TestFailedJoinKeepsTheToken: a join refused after its single-use token
// was consumed puts the token back, so the agent can try again once the
// cause is fixed.
func TestFailedJoinKeepsTheToken(t *testing.T) {
	ctx := context.Background()
	if _, err := join.Join(ctx, hubURL, hubCA, storeToken(t, join.Grant{}).String(), join.Request{Host: "moved", Region: "eu-west"}); err != nil {
		t.Fatal(err)
	}
	pinned := storeToken(t, join.Grant{Host: "moved"})
	_, err := join.Join(ctx, hubURL, hubCA, pinned.String(), join.Request{Host: "moved", Region: "us-east"})
	var refused *join.Refused
	if !errors.As(err, &refused) || refused.Status != http.StatusConflict {
		t.Fatalf("join from the wrong region: %v, want 409", err)
	}
	if _, err := join.Join(ctx, hubURL, hubCA, pinned.String(), join.Request{Host: "moved", Region: "eu-west"}); err != nil {
		t.Fatalf("join with the token put back: %v", err)
	}
}

// TestJoinThatFailedAfterRegisteringCanBeRetried: a join that registered
// its host and then failed leaves the host registered; the agent's retry
// with the same token, put back, finishes it, though the host is now
// registered and the token is not pinned.
func TestJoinThatFailedAfterRegisteringCanBeRetried(t *testing.T) {
	ctx := context.Background()
	// A binding in the host's name that cannot be made the host's: its
	// roleRef is immutable, so the join fails once it registered the host.
	squatter := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "vfleet:host:halfway"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
	}
	if err := k8s.Create(ctx, squatter); err != nil {
		t.Fatal(err)
	}
	tok := storeToken(t, join.Grant{})
	req := join.Request{Host: "halfway", Region: "eu-west"}
	if _, err := join.Join(ctx, hubURL, hubCA, tok.String(), req); err == nil {
		t.Fatal("the join succeeded over a binding it cannot change")
	}
	if err := k8s.Get(ctx, client.ObjectKey{Name: "halfway"}, &fleetv1.HostCluster{}); err != nil {
		t.Fatalf("the failed join did not leave its host registered: %v", err)
	}
	if err := k8s.Delete(ctx, squatter); err != nil {
		t.Fatal(err)
	}
	if _, err := join.Join(ctx, hubURL, hubCA, tok.String(), req); err != nil {
		t.Fatalf("the retry with the same token: %v", err)
	}
	// Finished, the join no longer lets that token, or any unpinned one,
	// in as the host.
	host := &fleetv1.HostCluster{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: "halfway"}, host); err != nil {
		t.Fatal(err)
	}
	if len(host.Annotations) != 0 {
		t.Fatalf("annotations after the join: %v", host.Annotations)
	}
}
