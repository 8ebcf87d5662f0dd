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

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=fleet.vfleet.dev,resources=hostclusters,verbs=get;create

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
	onlyHost, err := token.Verify(secret, s.Clock.Now())
	if err != nil {
		log.Info("Join refused: bad bootstrap token", "tokenID", token.ID, "reason", err.Error())
		return nil, rejected
	}
	if err := req.Validate(); err != nil {
		return nil, &httpError{http.StatusBadRequest, err.Error()}
	}
	if onlyHost != "" && onlyHost != req.Host {
		return nil, &httpError{http.StatusForbidden, fmt.Sprintf("this bootstrap token may only join host %q", onlyHost)}
	}

	host, err := s.hostCluster(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := hostaccess.Ensure(ctx, s.Client, host); err != nil {
		return nil, err
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(s.TokenTTL.Seconds()))}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1.HostNamespace(host.Name), Name: fleetv1.AgentServiceAccount}}
	if err := s.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return nil, fmt.Errorf("issue a token for the agent: %w", err)
	}
	log.Info("Host joined", "region", req.Region, "zone", req.Zone, "tokenID", token.ID)
	return &join.Response{
		Server: s.APIServer, CAData: s.CAData, Namespace: sa.Namespace,
		Token: tr.Status.Token, Expiration: tr.Status.ExpirationTimestamp.Time,
	}, nil
}

// hostCluster returns the host's HostCluster, creating it on first join.
func (s *Server) hostCluster(ctx context.Context, req join.Request) (*fleetv1.HostCluster, error) {
	host := &fleetv1.HostCluster{
		ObjectMeta: metav1.ObjectMeta{Name: req.Host},
		Spec:       fleetv1.HostClusterSpec{Region: req.Region, Zone: req.Zone},
	}
	err := s.Client.Create(ctx, host)
	if apierrors.IsAlreadyExists(err) {
		if err := s.Client.Get(ctx, client.ObjectKey{Name: req.Host}, host); err != nil {
			return nil, err
		}
		if host.Spec.Region != req.Region {
			return nil, &httpError{http.StatusConflict, fmt.Sprintf(
				"host %s is registered in region %q but the agent says %q: fix the agent's --region, or delete the HostCluster to register it again",
				req.Host, host.Spec.Region, req.Region)}
		}
		if !host.DeletionTimestamp.IsZero() {
			return nil, &httpError{http.StatusConflict, fmt.Sprintf("host %s is being deleted; join again once it is gone", req.Host)}
		}
		return host, nil
	}
	if apierrors.IsInvalid(err) {
		return nil, &httpError{http.StatusBadRequest, err.Error()}
	}
	return host, err
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
