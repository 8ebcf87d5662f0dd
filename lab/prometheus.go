package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
// configuration that scrapes everything the lab runs that serves metrics
// (the hub, and each host's agent) every interval, and returns its path.
// Prometheus reads the hub as the management cluster's ServiceAccount
// kube-system/vfleet-prometheus, and each agent as the same account of
// its host cluster (an agent's metrics are its host's to read): each may
// get /metrics and nothing else. Their tokens, valid for a day, are
// written beside the configuration (mode 0600).
func (l *Lab) PrometheusConfig(ctx context.Context, interval time.Duration) (string, error) {
	dir := filepath.Join(l.cfg.Dir, "prometheus")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// Prometheus takes "90s", not Go's "1m30s".
	every := fmt.Sprintf("%ds", max(1, int(interval/time.Second)))
	conf := fmt.Sprintf("# Written by the vfleet lab in %s.\nglobal:\n  scrape_interval: %s\n  evaluation_interval: %s\nscrape_configs:\n", l.cfg.Dir, every, every)
	jobs := []scrapeJob{{"vfleet-hub", l.mgmt.hubHostPort(l.mgmt.ports.HubMetrics), l.mgmt, nil}}
	for _, h := range l.Hosts() {
		jobs = append(jobs, scrapeJob{"vfleet-agent-" + h.Name, "127.0.0.1:" + strconv.Itoa(h.ports.AgentMetrics), h, map[string]string{"host": h.Name}})
	}
	for _, j := range jobs {
		token, err := scrapeToken(ctx, j.c)
		if err != nil {
			return "", fmt.Errorf("%s: %w", j.c.Name, err)
		}
		file := filepath.Join(dir, j.name+".token")
		if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
			return "", err
		}
		labels := fmt.Sprintf("\n          lab: %q", filepath.Base(l.cfg.Dir))
		for k, v := range j.labels {
			labels += fmt.Sprintf("\n          %s: %q", k, v)
		}
		// Self-signed certificates in the lab (no --metrics-cert-dir):
		// the scrape checks who reads, by the token.
		conf += fmt.Sprintf(`  - job_name: %s
    scheme: https
    tls_config:
      insecure_skip_verify: true
    authorization:
      type: Bearer
      credentials_file: %s
    static_configs:
      - targets: [%q]
        labels:%s
`, j.name, file, j.target, labels)
	}
	path := filepath.Join(dir, "prometheus.yml")
	return path, os.WriteFile(path, []byte(conf), 0o600)
}

// scrapeJob is one target Prometheus scrapes, as the account of c.
type scrapeJob struct {
	name, target string
	c            *Cluster
	labels       map[string]string
}

// scrapeToken makes c's ServiceAccount kube-system/vfleet-prometheus,
// allowed to get /metrics, and returns a token of it valid for a day.
func scrapeToken(ctx context.Context, c *Cluster) (string, error) {
	cfg, err := c.RESTConfig()
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
	return tr.Status.Token, nil
}
