package serving

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// clientCAConfigMap is where a Kubernetes API server publishes the CA of
// the client certificates it accepts, for servers that delegate to it.
const (
	clientCANamespace = "kube-system"
	clientCAConfigMap = "extension-apiserver-authentication"
	clientCAKey       = "client-ca-file"
)

// requestClientCerts has the TLS server ask for, not require, a client
// certificate: a Prometheus sends a token instead.
func requestClientCerts(c *tls.Config) { c.ClientAuth = tls.RequestClientCert }

// delegated is a metrics filter that lets in what the API server of cfg
// would: a bearer token it reviews (TokenReview), or a client certificate
// its client CA signed, as a person's kubeconfig holds; and then only a
// caller it allows to get /metrics (SubjectAccessReview). The client CA is
// read once, when the server starts; without one, only tokens are taken.
func delegated(cfg *rest.Config, hc *http.Client) (metricsserver.Filter, error) {
	kube, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	backoff := &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
	authn := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserver.AnonymousAuthConfig{Enabled: false},
		CacheTTL:                 time.Minute,
		TokenAccessReviewClient:  kube.AuthenticationV1(),
		TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff:      backoff,
	}
	ca, err := clientCA(kube)
	if err != nil {
		return nil, err
	}
	if len(ca) > 0 {
		if authn.ClientCertificateCAContentProvider, err = dynamiccertificates.NewStaticCAContent("client-ca", ca); err != nil {
			return nil, fmt.Errorf("%s/%s: %w", clientCANamespace, clientCAConfigMap, err)
		}
	}
	authenticator, _, err := authn.New()
	if err != nil {
		return nil, err
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: kube.AuthorizationV1(),
		AllowCacheTTL:             5 * time.Minute, DenyCacheTTL: 30 * time.Second,
		WebhookRetryBackoff: backoff,
	}.New()
	if err != nil {
		return nil, err
	}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			res, ok, err := authenticator.AuthenticateRequest(req)
			switch {
			case err != nil:
				log.Error(err, "Cannot authenticate a caller of /metrics")
				http.Error(w, "authentication failed", http.StatusInternalServerError)
				return
			case !ok:
				http.Error(w, "Unauthorized: send a bearer token or a client certificate the management cluster accepts", http.StatusUnauthorized)
				return
			}
			attrs := authorizer.AttributesRecord{User: res.User, Verb: strings.ToLower(req.Method), Path: req.URL.Path}
			decision, _, err := authz.Authorize(req.Context(), attrs)
			if err != nil {
				log.Error(err, "Cannot authorize a caller of /metrics", "user", res.User.GetName())
				http.Error(w, "authorization failed", http.StatusInternalServerError)
				return
			}
			if decision != authorizer.DecisionAllow {
				http.Error(w, fmt.Sprintf("Forbidden: %s may not get /metrics (it needs a ClusterRole with nonResourceURLs [/metrics], verbs [get])", res.User.GetName()), http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, req)
		}), nil
	}, nil
}

// clientCA reads the API server's client CA; none, for an API server
// without client certificates or a caller not allowed to read it.
func clientCA(kube kubernetes.Interface) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cm, err := kube.CoreV1().ConfigMaps(clientCANamespace).Get(ctx, clientCAConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the client CA in %s/%s: %w", clientCANamespace, clientCAConfigMap, err)
	}
	return []byte(cm.Data[clientCAKey]), nil
}
