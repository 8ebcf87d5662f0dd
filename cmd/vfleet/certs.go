package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
)

func newCertsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "certs", Short: "Manage a vcluster's identity: its CAs, service-account key and admin credentials"}
	cmd.AddCommand(newCertsRotateCommand())
	return cmd
}

func newCertsRotateCommand() *cobra.Command {
	var (
		t       target
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rotate NAME",
		Short: "Give a vcluster a new identity; everything issued before stops working",
		Long: `Give a vcluster a new identity: new CAs, service-account signing key and
admin credentials.

A vcluster keeps its identity through failovers and migrations; only this
command changes it, after a leak say. Its control plane starts again with
the new one, and every kubeconfig and service-account token issued before
stops working at once: fetch the new kubeconfig with 'vfleet connect'.
Pods get new service-account tokens as their kubelet renews them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return rotate(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), &t, args[0])
		},
	}
	t.addFlags(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the vcluster to run with its new identity")
	return cmd
}

// rotate asks the hub for a new identity of vc, and waits until the
// tenant's kubeconfig is one of it.
func rotate(ctx context.Context, out, errOut io.Writer, t *target, name string) error {
	c, vc, err := t.get(ctx, name)
	if err != nil {
		return err
	}
	old, err := kubeconfigCA(ctx, c, vc)
	if err != nil {
		return err
	}
	request := time.Now().UTC().Format(time.RFC3339Nano)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, fleetv1.AnnotationRotateIdentity, request)
	if err := c.Patch(ctx, vc, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		return apiError(err)
	}
	p := newProgress(errOut)
	err = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(vc), vc); err != nil {
			return false, err
		}
		ca, err := kubeconfigCA(ctx, c, vc)
		if err != nil {
			return false, err
		}
		switch {
		case ca == nil || bytes.Equal(ca, old):
			p.show(name + ": waiting for its control plane to start with the new identity")
			return false, nil
		case vc.Status.Phase != fleetv1.PhaseReady:
			p.show(name + ": " + string(vc.Status.Phase))
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("vcluster %s did not come back with its new identity: %w (see 'vfleet describe %s')", name, err, name)
	}
	fmt.Fprintf(out, "virtualcluster.fleet.vfleet.dev/%s: new identity; every kubeconfig and token issued before no longer works: 'vfleet connect %s' gives the new kubeconfig\n", name, name)
	return nil
}

// kubeconfigCA is the CA the tenant's kubeconfig of vc trusts, nil while
// there is none.
func kubeconfigCA(ctx context.Context, c client.Client, vc *fleetv1.VirtualCluster) ([]byte, error) {
	secret := &corev1.Secret{}
	err := c.Get(ctx, client.ObjectKey{Namespace: vc.Namespace, Name: virtualcluster.KubeconfigSecretName(vc)}, secret)
	if err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	cfg, err := clientcmd.Load(secret.Data[fleetv1.KubeconfigKey])
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig of vcluster %s: %w", vc.Name, err)
	}
	for _, cl := range cfg.Clusters {
		return cl.CertificateAuthorityData, nil
	}
	return nil, nil
}
