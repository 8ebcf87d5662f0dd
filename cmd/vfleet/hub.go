package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vfleet/vfleet/apis"
	"github.com/vfleet/vfleet/hub"
	"github.com/vfleet/vfleet/internal/kubeconfig"
	"github.com/vfleet/vfleet/join"
)

// addLogFlags binds controller-runtime's zap flags (--zap-log-level, ...)
// and returns a function that installs the logger once flags are parsed.
func addLogFlags(cmd *cobra.Command) func() {
	opts := zap.Options{}
	fs := flag.NewFlagSet("log", flag.ContinueOnError)
	opts.BindFlags(fs)
	cmd.Flags().AddGoFlagSet(fs)
	return func() { ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts))) }
}

func newHubCommand() *cobra.Command {
	o := hub.NewOptions()
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Run the hub: host catalogue and health, agent onboarding, placement",
		Args:  cobra.NoArgs,
	}
	setupLog := addLogFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		setupLog()
		return traced(cmd.Context(), "vfleet-hub", func() error { return hub.Run(cmd.Context(), o) })
	}
	o.AddFlags(cmd.Flags())
	cmd.AddCommand(newHubTokenCommand())
	return cmd
}

func newHubTokenCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage bootstrap tokens that let hosts join"}
	var (
		kc, namespace, host string
		ttl                 time.Duration
		reusable            bool
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a bootstrap token and print it",
		Long: `Create a bootstrap token for "vfleet agent --bootstrap-token". The token
is stored as a Secret in the hub's namespace; delete the Secret to revoke it.

A token registers new hosts only: it cannot join as a host that is already
registered, unless it is pinned to that host with --host. By default it
lets one host in and is valid for an hour.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := createToken(cmd.Context(), kc, namespace, host, ttl, reusable)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	create.Flags().StringVar(&kc, "kubeconfig", "", "kubeconfig of the management cluster (default: $KUBECONFIG or ~/.kube/config)")
	create.Flags().StringVar(&namespace, "namespace", hub.DefaultNamespace, "the hub's namespace")
	create.Flags().StringVar(&host, "host", "", "pin the token to this host: only it may join with the token, even once it is registered")
	create.Flags().DurationVar(&ttl, "ttl", join.DefaultTTL, "how long the token is valid (0: until deleted)")
	create.Flags().BoolVar(&reusable, "reusable", false, "let the token join more than one host (or the same host more than once) until it expires")
	cmd.AddCommand(create)
	return cmd
}

func createToken(ctx context.Context, kc, namespace, host string, ttl time.Duration, reusable bool) (string, error) {
	if ttl < 0 {
		return "", errors.New("--ttl must not be negative")
	}
	if host != "" {
		if msgs := validation.IsDNS1123Label(host); len(msgs) > 0 {
			return "", fmt.Errorf("--host %q is not a host name: %s", host, strings.Join(msgs, "; "))
		}
	}
	cfg, err := kubeconfig.Load(kc)
	if err != nil {
		return "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: apis.Scheme()})
	if err != nil {
		return "", err
	}
	if err := c.Get(ctx, client.ObjectKey{Name: namespace}, &corev1.Namespace{}); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("namespace %s does not exist: is the hub installed on this cluster?", namespace)
		}
		return "", err
	}
	tok, err := join.NewToken()
	if err != nil {
		return "", err
	}
	grant := join.Grant{Host: host, Reusable: reusable}
	if ttl > 0 {
		grant.Expires = time.Now().Add(ttl)
	}
	if err := c.Create(ctx, tok.StoredAs(namespace, grant)); err != nil {
		return "", err
	}
	return tok.String(), nil
}
