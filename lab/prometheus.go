package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// scraper is the management cluster's account Prometheus scrapes as.
const scraper = "vfleet-prometheus"

// PrometheusConfig writes, under the lab's directory, a Prometheus
// configuration that scrapes what the lab serves metrics from (the hub),
// every interval, and returns its path. Prometheus reads as the
// management cluster's ServiceAccount vfleet-prometheus, allowed to get
// /metrics and nothing else; its token, valid for a day, is written
// beside the configuration (mode 0600).
func (l *Lab) PrometheusConfig(ctx context.Context, interval time.Duration) (string, error) {
	cfg, err := l.mgmt.RESTConfig()
	if err != nil {
		return "", err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	const ns = "kube-system"
	for _, create := range []func() error{
		func() error {
			_, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: scraper}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: scraper},
				Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: scraper},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: scraper},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: scraper}}}, metav1.CreateOptions{})
			return err
		},
	} {
		if err := create(); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("prometheus's account: %w", err)
		}
	}
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, scraper, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("prometheus's token: %w", err)
	}
	dir := filepath.Join(l.cfg.Dir, "prometheus")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(tr.Status.Token), 0o600); err != nil {
		return "", err
	}
	// The hub's /metrics certificate is self-signed in the lab (no
	// --metrics-cert-dir): the scrape checks who reads, by the token.
	// Prometheus takes "90s", not Go's "1m30s".
	every := fmt.Sprintf("%ds", max(1, int(interval/time.Second)))
	conf := fmt.Sprintf(`# Written by the vfleet lab in %s.
global:
  scrape_interval: %s
  evaluation_interval: %s
scrape_configs:
  - job_name: vfleet-hub
    scheme: https
    tls_config:
      insecure_skip_verify: true
    authorization:
      type: Bearer
      credentials_file: %s
    static_configs:
      - targets: [%q]
        labels:
          lab: %q
`, l.cfg.Dir, every, every, token, l.mgmt.hubHostPort(l.mgmt.ports.HubMetrics), filepath.Base(l.cfg.Dir))
	path := filepath.Join(dir, "prometheus.yml")
	return path, os.WriteFile(path, []byte(conf), 0o600)
}
