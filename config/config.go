// Package config ships vfleet's Kubernetes manifests: the CRDs generated
// from apis/, the hub's RBAC and the admission policies that hold what RBAC
// cannot say, embedded so the binary can install them.
package config

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

//go:embed crd/*.yaml
var crdFiles embed.FS

//go:embed rbac/role.yaml
var hubRole []byte

//go:embed rbac/gateway/role.yaml
var gatewayRole []byte

//go:embed policy/*.yaml
var policyFiles embed.FS

//go:embed rbac/tenant.yaml
var tenantRoles []byte

// HubClusterRole is the ClusterRole the hub runs with, generated from the
// RBAC markers of its controllers.
func HubClusterRole() (*rbacv1.ClusterRole, error) {
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(hubRole, role); err != nil {
		return nil, fmt.Errorf("rbac/role.yaml: %w", err)
	}
	return role, nil
}

// GatewayRoles are the roles a region's gateway runs with: a ClusterRole
// to read VirtualClusters (and nothing of a vcluster's credentials), and a
// Role in the hub's namespace to record each vcluster's use in Leases.
func GatewayRoles() (*rbacv1.ClusterRole, *rbacv1.Role, error) {
	docs := documents(gatewayRole)
	if len(docs) != 2 {
		return nil, nil, fmt.Errorf("rbac/gateway/role.yaml: %d documents, want a ClusterRole and a Role", len(docs))
	}
	cluster, role := &rbacv1.ClusterRole{}, &rbacv1.Role{}
	if err := yaml.UnmarshalStrict([]byte(docs[0]), cluster); err != nil {
		return nil, nil, fmt.Errorf("rbac/gateway/role.yaml: %w", err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), role); err != nil {
		return nil, nil, fmt.Errorf("rbac/gateway/role.yaml: %w", err)
	}
	return cluster, role, nil
}

// GatewayClusterRole is the gateway's ClusterRole (GatewayRoles).
func GatewayClusterRole() (*rbacv1.ClusterRole, error) {
	cluster, _, err := GatewayRoles()
	return cluster, err
}

// InstallHubClusterRole creates or updates the hub's ClusterRole.
func InstallHubClusterRole(ctx context.Context, cfg *rest.Config) (*rbacv1.ClusterRole, error) {
	return installClusterRole(ctx, cfg, HubClusterRole)
}

// InstallGatewayRoles creates or updates the gateway's ClusterRole and
// Role (GatewayRoles).
func InstallGatewayRoles(ctx context.Context, cfg *rest.Config) (*rbacv1.ClusterRole, *rbacv1.Role, error) {
	cluster, err := installClusterRole(ctx, cfg, GatewayClusterRole)
	if err != nil {
		return nil, nil, err
	}
	_, role, err := GatewayRoles()
	if err != nil {
		return nil, nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := createOrUpdate(ctx, kube.RbacV1().Roles(role.Namespace), role); err != nil {
		return nil, nil, fmt.Errorf("install Role %s/%s: %w", role.Namespace, role.Name, err)
	}
	return cluster, role, nil
}

func installClusterRole(ctx context.Context, cfg *rest.Config, get func() (*rbacv1.ClusterRole, error)) (*rbacv1.ClusterRole, error) {
	role, err := get()
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := createOrUpdate(ctx, kube.RbacV1().ClusterRoles(), role); err != nil {
		return nil, fmt.Errorf("install ClusterRole %s: %w", role.Name, err)
	}
	return role, nil
}

// TenantClusterRoles are the roles an admin binds tenants to: vfleet-tenant
// in a tenant's namespace, vfleet-tenant-classes cluster-wide.
func TenantClusterRoles() ([]*rbacv1.ClusterRole, error) {
	var roles []*rbacv1.ClusterRole
	for i, doc := range documents(tenantRoles) {
		role := &rbacv1.ClusterRole{}
		if err := yaml.UnmarshalStrict([]byte(doc), role); err != nil {
			return nil, fmt.Errorf("rbac/tenant.yaml document %d: %w", i, err)
		}
		roles = append(roles, role)
	}
	return roles, nil
}

// InstallTenantRoles creates or updates the tenant ClusterRoles.
func InstallTenantRoles(ctx context.Context, cfg *rest.Config) error {
	roles, err := TenantClusterRoles()
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, role := range roles {
		if err := createOrUpdate(ctx, kube.RbacV1().ClusterRoles(), role); err != nil {
			return fmt.Errorf("install ClusterRole %s: %w", role.Name, err)
		}
	}
	return nil
}

// CRDs returns vfleet's CustomResourceDefinitions.
func CRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	paths, err := fs.Glob(crdFiles, "crd/*.yaml")
	if err != nil {
		return nil, err
	}
	crds := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(paths))
	for _, p := range paths {
		data, err := crdFiles.ReadFile(p)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		crds = append(crds, crd)
	}
	return crds, nil
}

// InstallCRDs creates or updates vfleet's CRDs and waits until the API
// server serves them.
func InstallCRDs(ctx context.Context, cfg *rest.Config) error {
	crds, err := CRDs()
	if err != nil {
		return err
	}
	client, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	for _, crd := range crds {
		if err := createOrUpdate(ctx, api, crd); err != nil {
			return fmt.Errorf("install CRD %s: %w", crd.Name, err)
		}
	}
	for _, crd := range crds {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			got, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", crd.Name, err)
		}
	}
	return nil
}

// Policies returns vfleet's admission policies and their bindings.
func Policies() ([]*admissionregistrationv1.ValidatingAdmissionPolicy, []*admissionregistrationv1.ValidatingAdmissionPolicyBinding, error) {
	paths, err := fs.Glob(policyFiles, "policy/*.yaml")
	if err != nil {
		return nil, nil, err
	}
	var policies []*admissionregistrationv1.ValidatingAdmissionPolicy
	var bindings []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
	for _, p := range paths {
		data, err := policyFiles.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		for i, doc := range documents(data) {
			var kind struct {
				Kind string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &kind); err != nil {
				return nil, nil, fmt.Errorf("%s document %d: %w", p, i, err)
			}
			switch kind.Kind {
			case "ValidatingAdmissionPolicy":
				policy := &admissionregistrationv1.ValidatingAdmissionPolicy{}
				err = yaml.UnmarshalStrict([]byte(doc), policy)
				policies = append(policies, policy)
			case "ValidatingAdmissionPolicyBinding":
				binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
				err = yaml.UnmarshalStrict([]byte(doc), binding)
				bindings = append(bindings, binding)
			default:
				err = fmt.Errorf("kind %q is not an admission policy", kind.Kind)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s document %d: %w", p, i, err)
			}
		}
	}
	return policies, bindings, nil
}

// InstallPolicies creates or updates vfleet's admission policies and their
// bindings. The API server enforces a policy a moment after it is stored,
// not at once.
func InstallPolicies(ctx context.Context, cfg *rest.Config) error {
	policies, bindings, err := Policies()
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	api := kube.AdmissionregistrationV1()
	for _, p := range policies {
		if err := createOrUpdate(ctx, api.ValidatingAdmissionPolicies(), p); err != nil {
			return fmt.Errorf("install admission policy %s: %w", p.Name, err)
		}
	}
	for _, b := range bindings {
		if err := createOrUpdate(ctx, api.ValidatingAdmissionPolicyBindings(), b); err != nil {
			return fmt.Errorf("install admission policy binding %s: %w", b.Name, err)
		}
	}
	return nil
}

// documents splits a multi-document YAML file.
func documents(data []byte) []string { return strings.Split(string(data), "\n---\n") }

// object is a cluster-scoped kind createOrUpdate handles.
type object interface {
	GetName() string
	SetResourceVersion(string)
	GetResourceVersion() string
}

// clusterAPI is the part of a typed client createOrUpdate uses.
type clusterAPI[T object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

func createOrUpdate[T object](ctx context.Context, api clusterAPI[T], obj T) error {
	existing, err := api.Get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, obj, metav1.CreateOptions{})
	case err == nil:
		obj.SetResourceVersion(existing.GetResourceVersion())
		_, err = api.Update(ctx, obj, metav1.UpdateOptions{})
	}
	return err
}
