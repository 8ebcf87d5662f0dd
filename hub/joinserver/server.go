// Package joinserver is the hub's side of the join protocol: it trades a
// bootstrap token for an agent's credentials on the management cluster.
package joinserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/hostaccess"
	"github.com/vfleet/vfleet/join"
)

// Server is the hub's join endpoint.
type Server struct {
	// Client writes to the management cluster.
	Client client.Client
	// Reader reads bootstrap tokens; it should not be a cache, so the hub
	// does not watch every Secret of its namespace.
	Reader client.Reader
	// Namespace holds the bootstrap token Secrets.
	Namespace string
	Clock     clock.PassiveClock
	// APIServer and CAData are handed to agents for the management cluster.
	APIServer string
	CAData    []byte
	// TokenTTL is how long an issued agent token is valid.
	TokenTTL time.Duration
}

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;delete
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=hostclusters,verbs=get;create;patch
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create

type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

// rejected is what every failed token check answers, so that a caller
// learns nothing about which part was wrong.
var rejected = &httpError{http.StatusUnauthorized,
	"the bootstrap token was rejected: it is unknown, wrong or expired; create a new one with \"vfleet hub token create\""}

// ServeHTTP handles POST /v1/join.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != join.Path || r.Method != http.MethodPost {
		writeJSON(w, http.StatusNotFound, join.ErrorBody{Message: "POST " + join.Path + " is the only endpoint"})
		return
	}
	var req join.Request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, join.ErrorBody{Message: "the request body is not a join request: " + err.Error()})
		return
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	resp, err := s.join(r.Context(), token, req)
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			ctrl.LoggerFrom(r.Context()).Error(err, "Join failed", "host", req.Host)
			he = &httpError{http.StatusInternalServerError, "the hub could not complete the join, try again: " + err.Error()}
		}
		writeJSON(w, he.code, join.ErrorBody{Message: he.msg})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) join(ctx context.Context, raw string, req join.Request) (*join.Response, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("host", req.Host)
	token, err := join.ParseToken(raw)
	if err != nil {
		return nil, &httpError{http.StatusUnauthorized, "malformed bootstrap token: " + err.Error()}
	}
	secret := &corev1.Secret{}
	if err := s.Reader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: join.SecretName(token.ID)}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			log.Info("Join refused: unknown bootstrap token", "tokenID", token.ID)
			return nil, rejected
		}
		return nil, err
	}
	grant, err := token.Verify(secret, s.Clock.Now())
	if err != nil {
		log.Info("Join refused: bad bootstrap token", "tokenID", token.ID, "reason", err.Error())
		return nil, rejected
	}
	if err := req.Validate(); err != nil {
		return nil, &httpError{http.StatusBadRequest, err.Error()}
	}
	if grant.Host != "" && grant.Host != req.Host {
		return nil, &httpError{http.StatusForbidden, fmt.Sprintf("this bootstrap token may only join host %q", grant.Host)}
	}
	// A single-use token is consumed before anything is granted, so that
	// two joins racing with it cannot both succeed; it is put back if the
	// join fails, so that the agent can try again with it.
	if !grant.Reusable {
		if err := s.consume(ctx, secret); err != nil {
			log.Info("Join refused: bootstrap token already used", "tokenID", token.ID, "reason", err.Error())
			return nil, rejected
		}
	}
	resp, err := s.admit(ctx, req, token.ID, grant)
	if err != nil && !grant.Reusable {
		if rerr := s.restore(ctx, secret); rerr != nil {
			log.Error(rerr, "Could not put back the bootstrap token of a failed join", "tokenID", token.ID)
		}
	}
	if err == nil {
		log.Info("Host joined", "region", req.Region, "zone", req.Zone, "tokenID", token.ID, "pinned", grant.Host != "", "reusable", grant.Reusable)
	}
	return resp, err
}

// annotationJoinToken marks a host registered by a join that has not
// finished yet, with the id of the token it used: a retry with the same
// token may finish it, since the token was put back when the join failed.
const annotationJoinToken = "fleet.vfleet.dev/joining-with-token"

// admit registers the host, or checks that the caller is the host already
// registered under that name, and issues the agent its credentials.
func (s *Server) admit(ctx context.Context, req join.Request, tokenID string, grant join.Grant) (*join.Response, error) {
	host, created, err := s.hostCluster(ctx, req, tokenID)
	if err != nil {
		return nil, err
	}
	if !created {
		if grant.Host != host.Name && host.Annotations[annotationJoinToken] != tokenID {
			if err := s.provesHost(ctx, req); err != nil {
				return nil, err
			}
		}
		if err := sameHost(host, req); err != nil {
			return nil, err
		}
	}
	if err := hostaccess.Ensure(ctx, s.Client, host); err != nil {
		return nil, err
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(s.TokenTTL.Seconds()))}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1.HostNamespace(host.Name), Name: fleetv1.AgentServiceAccount}}
	if err := s.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return nil, fmt.Errorf("issue a token for the agent: %w", err)
	}
	if _, ok := host.Annotations[annotationJoinToken]; ok {
		before := host.DeepCopy()
		delete(host.Annotations, annotationJoinToken)
		if err := s.Client.Patch(ctx, host, client.MergeFrom(before)); err != nil {
			return nil, fmt.Errorf("record the finished join: %w", err)
		}
	}
	return &join.Response{
		Server: s.APIServer, CAData: s.CAData, Namespace: sa.Namespace,
		Token: tr.Status.Token, Expiration: tr.Status.ExpirationTimestamp.Time,
	}, nil
}

// provesHost checks that the request carries the current credential of the
// registered host's agent. The API server is asked, as it would be for any
// request the agent makes: a token of a deleted or recreated ServiceAccount,
// or an expired one, does not pass.
func (s *Server) provesHost(ctx context.Context, req join.Request) error {
	refused := &httpError{http.StatusForbidden, fmt.Sprintf(
		"host %s is already registered, and a bootstrap token may only register a new host: to join as %s again, "+
			"create a token pinned to it (vfleet hub token create --host %s), or delete the HostCluster to register it anew", req.Host, req.Host, req.Host)}
	if req.Credential == "" {
		return refused
	}
	review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: req.Credential}}
	if err := s.Client.Create(ctx, review); err != nil {
		return fmt.Errorf("check the agent's credential: %w", err)
	}
	if !review.Status.Authenticated || review.Status.User.Username != hostaccess.AgentUser(req.Host) {
		return refused
	}
	return nil
}

// consume deletes a single-use token's Secret, as read: a token another
// join consumed or changed meanwhile is not consumed twice.
func (s *Server) consume(ctx context.Context, secret *corev1.Secret) error {
	return s.Client.Delete(ctx, secret, client.Preconditions{UID: &secret.UID, ResourceVersion: &secret.ResourceVersion})
}

// restore puts back a token consumed by a join that failed.
func (s *Server) restore(ctx context.Context, secret *corev1.Secret) error {
	again := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: secret.Namespace, Name: secret.Name, Labels: secret.Labels},
		Type:       secret.Type, Data: secret.Data,
	}
	return client.IgnoreAlreadyExists(s.Client.Create(ctx, again))
}

// hostCluster returns the host's HostCluster, creating it, marked with the
// join's token, on first join; created says whether this call created it.
func (s *Server) hostCluster(ctx context.Context, req join.Request, tokenID string) (host *fleetv1.HostCluster, created bool, err error) {
	host = &fleetv1.HostCluster{
		ObjectMeta: metav1.ObjectMeta{Name: req.Host, Annotations: map[string]string{annotationJoinToken: tokenID}},
		Spec:       fleetv1.HostClusterSpec{Region: req.Region, Zone: req.Zone},
	}
	err = s.Client.Create(ctx, host)
	if err == nil {
		return host, true, nil
	}
	if apierrors.IsInvalid(err) {
		return nil, false, &httpError{http.StatusBadRequest, err.Error()}
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, false, err
	}
	if err := s.Client.Get(ctx, client.ObjectKey{Name: req.Host}, host); err != nil {
		return nil, false, err
	}
	return host, false, nil
}

// sameHost checks a join as a registered host against what is registered.
// It runs only once the caller has proven to be the host, so that nobody
// else learns where it is.
func sameHost(host *fleetv1.HostCluster, req join.Request) error {
	if host.Spec.Region != req.Region {
		return &httpError{http.StatusConflict, fmt.Sprintf(
			"host %s is registered in region %q but the agent says %q: fix the agent's --region, or delete the HostCluster to register it again",
			req.Host, host.Spec.Region, req.Region)}
	}
	if !host.DeletionTimestamp.IsZero() {
		return &httpError{http.StatusConflict, fmt.Sprintf("host %s is being deleted; join again once it is gone", req.Host)}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
