package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vfleet/vfleet/config"
	"github.com/vfleet/vfleet/hub"
	"github.com/vfleet/vfleet/join"
)

// bootstrap writes what a cluster's processes need from its API before
// they start. It is idempotent, so it runs on every start.
func (c *Cluster) bootstrap(ctx context.Context) error {
	if c.Role == RoleManagement {
		return c.bootstrapManagement(ctx)
	}
	for _, b := range []struct{ name, user string }{
		{"vfleet-lab:kwok", kwokUser},
		{"vfleet-lab:agent", agentUser},
	} {
		if err := c.bindClusterRole(ctx, b.name, "cluster-admin", b.user); err != nil {
			return err
		}
	}
	if err := c.bindClusterRole(ctx, "vfleet-lab:apiserver-kubelet", "system:kubelet-api-admin", apiserverKubeletUser); err != nil {
		return err
	}
	if err := c.ensureLocalVolumes(ctx); err != nil {
		return err
	}
	if err := c.ensureDNS(ctx); err != nil {
		return err
	}
	for i, name := range c.NodeNames() {
		if _, err := c.kube.CoreV1().Nodes().Create(ctx, c.node(name, i), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: create node %s: %w", c.Name, name, err)
		}
	}
	return nil
}

// bootstrapManagement installs what a deployment of the hub would: the
// CRDs and admission policies, the tenant roles, the hub's namespace and
// ClusterRole, and the lab's stores with a default class that opens them.
func (c *Cluster) bootstrapManagement(ctx context.Context) error {
	if err := config.InstallCRDs(ctx, c.restConfig); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	if err := config.InstallPolicies(ctx, c.restConfig); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	if err := config.InstallTenantRoles(ctx, c.restConfig); err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hub.DefaultNamespace}}
	if _, err := c.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s: create namespace %s: %w", c.Name, ns.Name, err)
	}
	role, err := config.InstallHubClusterRole(ctx, c.restConfig)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	if err := c.bindClusterRole(ctx, role.Name, role.Name, hubUser); err != nil {
		return err
	}
	gwCluster, gwRole, err := config.InstallGatewayRoles(ctx, c.restConfig)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	if err := c.bindClusterRole(ctx, gwCluster.Name, gwCluster.Name, gatewayUser); err != nil {
		return err
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: gwRole.Namespace, Name: gwRole.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: gwRole.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: gatewayUser}},
	}
	if _, err := c.kube.RbacV1().RoleBindings(rb.Namespace).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s: bind %s to Role %s: %w", c.Name, gatewayUser, gwRole.Name, err)
	}
	return c.registerStores(ctx)
}

// ensureBootstrapToken makes sure host's agent has a bootstrap token to
// join with, in the file the agent reads, and returns that file. As an
// admin would, the lab pins each host's token to it: a token of one host
// can never join as another. The token is single-use, so a new one is made
// whenever the last was used; an agent that joined keeps its own
// credentials and does not need it again.
func (c *Cluster) ensureBootstrapToken(ctx context.Context, host string) error {
	file := c.paths.bootstrapToken(host)
	if data, err := os.ReadFile(file); err == nil {
		if tok, err := join.ParseToken(strings.TrimSpace(string(data))); err == nil {
			_, err := c.kube.CoreV1().Secrets(hub.DefaultNamespace).Get(ctx, join.SecretName(tok.ID), metav1.GetOptions{})
			if err == nil {
				return nil
			}
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("%s: read the bootstrap token of %s: %w", c.Name, host, err)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	tok, err := join.NewToken()
	if err != nil {
		return err
	}
	// No expiry: the lab starts its agents when it likes, and a pinned
	// single-use token is of no use to anyone else.
	secret := tok.StoredAs(hub.DefaultNamespace, join.Grant{Host: host})
	if _, err := c.kube.CoreV1().Secrets(hub.DefaultNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("%s: store the bootstrap token of %s: %w", c.Name, host, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	return os.WriteFile(file, []byte(tok.String()+"\n"), 0o600)
}

func (c *Cluster) bindClusterRole(ctx context.Context, name, role, user string) error {
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if _, err := c.kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s: bind %s to %s: %w", c.Name, user, role, err)
	}
	return nil
}
