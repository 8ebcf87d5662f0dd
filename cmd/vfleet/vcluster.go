package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/internal/k8sbin"
)

// target is how a tenant command reaches the management cluster: the
// kubeconfig flags kubectl has.
type target struct {
	kubeconfig, context, namespace string
	allNamespaces                  bool
}

func (t *target) addFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&t.kubeconfig, "kubeconfig", "", "kubeconfig of the management cluster (default: $KUBECONFIG, ~/.kube/config)")
	f.StringVar(&t.context, "context", "", "kubeconfig context to use")
	f.StringVarP(&t.namespace, "namespace", "n", "", "namespace of the vcluster (default: the context's, else default)")
}

func (t *target) loader() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = t.kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: t.context})
}

// client returns a client of the management cluster and the namespace to
// work in.
func (t *target) client() (client.Client, string, error) {
	cc := t.loader()
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("management cluster: %w (set --kubeconfig or KUBECONFIG; after make run: %s)", err, "export KUBECONFIG=$(vfleet lab status -o kubeconfig)")
	}
	ns := t.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: apis.Scheme()})
	return c, ns, err
}

// get reads the named vcluster in the target namespace.
func (t *target) get(ctx context.Context, name string) (client.Client, *fleetv1.VirtualCluster, error) {
	c, ns, err := t.client()
	if err != nil {
		return nil, nil, err
	}
	vc := &fleetv1.VirtualCluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, vc); err != nil {
		return nil, nil, apiError(err)
	}
	return c, vc, nil
}

// newVClusterCommands are the tenant's verbs.
func newVClusterCommands() []*cobra.Command {
	return []*cobra.Command{newCreateCommand(), newListCommand(), newDescribeCommand(), newConnectCommand(), newDeleteCommand()}
}

func newCreateCommand() *cobra.Command {
	var (
		t                    target
		cpu, memory, version string
		store, strategy, out string
		class                string
		regions              []string
		pods                 int32
		wait                 bool
		timeout              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a virtual cluster",
		Example: `  vfleet create demo --wait
  vfleet create ci-42 --cpu 4 --memory 8Gi --region region-a --wait
  vfleet create prod --class gold --store pg-eu --version v1.36.3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(out, "name"); err != nil {
				return err
			}
			c, ns, err := t.client()
			if err != nil {
				return err
			}
			vc := &fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Name: args[0], Namespace: ns}}
			vc.Spec.KubernetesVersion = version
			vc.Spec.ClassName = class
			for flag, v := range map[string]string{"--cpu": cpu, "--memory": memory} {
				if _, err := resource.ParseQuantity(v); err != nil {
					return fmt.Errorf("%s %q: want a quantity such as 2, 500m or 4Gi", flag, v)
				}
			}
			vc.Spec.Resources = fleetv1.Resources{CPU: resource.MustParse(cpu), Memory: resource.MustParse(memory), Pods: pods}
			vc.Spec.Placement.Regions = regions
			vc.Spec.Placement.Strategy = fleetv1.PlacementStrategy(strategy)
			if store != "" {
				vc.Spec.BackingStore = fleetv1.VirtualClusterStore{Type: fleetv1.BackingStoreExternal, Name: store}
			}
			if err := c.Create(cmd.Context(), vc); err != nil {
				return apiError(err)
			}
			if !wait {
				return printResult(cmd.OutOrStdout(), out, vc, "created")
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "virtualcluster.fleet.vfleet.dev/%s created; waiting for it to be Ready\n", vc.Name)
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := waitReady(ctx, c, client.ObjectKeyFromObject(vc), newProgress(cmd.ErrOrStderr())); err != nil {
				return err
			}
			if out != "" {
				return printResult(cmd.OutOrStdout(), out, vc, "created")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "virtualcluster.fleet.vfleet.dev/%s ready\nuse it:  vfleet connect %s%s\n", vc.Name, vc.Name, nsFlag(ns))
			return nil
		},
	}
	t.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&cpu, "cpu", "2", "CPU the vcluster's pods may request in total")
	f.StringVar(&memory, "memory", "4Gi", "memory the vcluster's pods may request in total")
	f.Int32Var(&pods, "pods", 110, "most pods the vcluster may run at once")
	f.StringVar(&version, "version", k8sbin.Version, "Kubernetes version of the vcluster")
	f.StringSliceVar(&regions, "region", nil, "region the vcluster may run in (repeatable; default any)")
	f.StringVar(&class, "class", "", "VirtualClusterClass whose policy the vcluster runs under (default: the class named default)")
	f.StringVar(&store, "store", "", "BackingStore to keep the vcluster's state in, among those its class allows (default: Embedded SQLite on its host)")
	f.StringVar(&strategy, "strategy", "", "placement strategy: BinPack, Spread or LowestCost (default: the hub's)")
	f.BoolVar(&wait, "wait", false, "wait until the vcluster is Ready, showing progress")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	f.StringVarP(&out, "output", "o", "", "output format: json, yaml or name")
	return cmd
}

// waitReady polls the vcluster until it is Ready, showing each new phase
// and reason; a Failed vcluster ends the wait with its reason.
func waitReady(ctx context.Context, c client.Client, key client.ObjectKey, p *progress) error {
	for {
		vc := &fleetv1.VirtualCluster{}
		if err := c.Get(ctx, key, vc); err != nil {
			return apiError(err)
		}
		msg := summary(vc)
		p.show(fmt.Sprintf("%-12s %s", phaseOf(vc), msg))
		switch vc.Status.Phase {
		case fleetv1.PhaseReady:
			return nil
		case fleetv1.PhaseFailed:
			return fmt.Errorf("vcluster %s failed: %s", key.Name, msg)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("vcluster %s not Ready after waiting: %s (%s)", key.Name, phaseOf(vc), msg)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func phaseOf(vc *fleetv1.VirtualCluster) string {
	if vc.Status.Phase == "" {
		return string(fleetv1.PhasePending)
	}
	if s := vc.Status.Sleep; s != nil && vc.Status.Phase == fleetv1.PhaseSleeping {
		return "Sleeping for " + duration.HumanDuration(time.Since(s.Since.Time))
	}
	return string(vc.Status.Phase)
}

// summary is the condition a person should read now: the first that is
// not True, else Ready's message.
func summary(vc *fleetv1.VirtualCluster) string {
	if s := vc.Status.Sleep; s != nil && vc.Status.Phase == fleetv1.PhaseSleeping {
		return fmt.Sprintf("asleep since %s (%s)", s.Since.UTC().Format(time.RFC3339), s.Reason)
	}
	for _, t := range []string{fleetv1.ConditionAdmitted, fleetv1.ConditionScheduled, fleetv1.ConditionProvisioned, fleetv1.ConditionReady} {
		c := meta.FindStatusCondition(vc.Status.Conditions, t)
		if c == nil {
			return "waiting for the hub"
		}
		if c.Status != metav1.ConditionTrue {
			return c.Message
		}
	}
	return meta.FindStatusCondition(vc.Status.Conditions, fleetv1.ConditionReady).Message
}

func newListCommand() *cobra.Command {
	var (
		t   target
		out string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls", "get"},
		Short:   "List virtual clusters",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(out, "wide"); err != nil {
				return err
			}
			c, ns, err := t.client()
			if err != nil {
				return err
			}
			list := &fleetv1.VirtualClusterList{}
			var opts []client.ListOption
			if !t.allNamespaces {
				opts = append(opts, client.InNamespace(ns))
			}
			if err := c.List(cmd.Context(), list, opts...); err != nil {
				return apiError(err)
			}
			sort.Slice(list.Items, func(i, j int) bool {
				a, b := list.Items[i], list.Items[j]
				return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
			})
			if out == "json" || out == "yaml" {
				return printObject(cmd.OutOrStdout(), out, list)
			}
			if len(list.Items) == 0 {
				if t.allNamespaces {
					fmt.Fprintln(cmd.ErrOrStderr(), "No virtual clusters found.")
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "No virtual clusters found in %s namespace.\n", ns)
				}
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			head := "NAME\tPHASE\tVERSION\tHOST\tEPOCH\tSTORE\tAGE"
			if t.allNamespaces {
				head = "NAMESPACE\t" + head
			}
			if out == "wide" {
				head += "\tENDPOINT\tMESSAGE"
			}
			fmt.Fprintln(tw, head)
			for _, vc := range list.Items {
				row := fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%s\t%s", vc.Name, phaseOf(&vc), vc.Spec.KubernetesVersion, orNone(vc.Status.Host),
					vc.Status.Epoch, vc.Spec.BackingStore.Type, duration.HumanDuration(time.Since(vc.CreationTimestamp.Time)))
				if t.allNamespaces {
					row = vc.Namespace + "\t" + row
				}
				if out == "wide" {
					row += fmt.Sprintf("\t%s\t%s", orNone(vc.Status.Endpoint), summary(&vc))
				}
				fmt.Fprintln(tw, row)
			}
			return tw.Flush()
		},
	}
	t.addFlags(cmd)
	cmd.Flags().BoolVarP(&t.allNamespaces, "all-namespaces", "A", false, "list the vclusters of every namespace")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output format: json, yaml or wide")
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func newConnectCommand() *cobra.Command {
	var (
		t           target
		print, swch bool
	)
	cmd := &cobra.Command{
		Use:   "connect NAME",
		Short: "Add a virtual cluster's kubeconfig to yours, or print it",
		Long: `Merge the vcluster's kubeconfig into the first file of KUBECONFIG (or
~/.kube/config) as context vfleet-NAME, or with --print write it to stdout.
The current context stays unless --switch is given, so vfleet keeps talking
to the management cluster.`,
		Example: `  vfleet connect demo && kubectl --context vfleet-demo get namespaces
  vfleet connect demo --print > demo.kubeconfig`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, vc, err := t.get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ns := vc.Namespace
			if vc.Status.KubeconfigSecret == "" {
				return fmt.Errorf("vcluster %s has no kubeconfig yet: it is %s (%s)", vc.Name, phaseOf(vc), summary(vc))
			}
			kc, err := tenantKubeconfig(cmd.Context(), c, vc)
			if err != nil {
				return err
			}
			name := "vfleet-" + vc.Name
			if ns != "default" {
				name += "-" + ns
			}
			cfg, err := clientcmd.Load(kc)
			if err != nil {
				return fmt.Errorf("the vcluster's kubeconfig: %w", err)
			}
			cfg = renamed(cfg, name)
			if print {
				data, err := clientcmd.Write(*cfg)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			path, err := mergeKubeconfig(t, cfg, name, swch)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added context %q to %s\n", name, path)
			if swch {
				fmt.Fprintf(cmd.OutOrStdout(), "Switched to context %q.\nuse it:  kubectl get namespaces\n", name)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "use it:  kubectl --context %s get namespaces\n", name)
			}
			return nil
		},
	}
	t.addFlags(cmd)
	cmd.Flags().BoolVar(&print, "print", false, "write the kubeconfig to stdout instead of merging it")
	cmd.Flags().BoolVar(&swch, "switch", false, "make the vcluster the current context")
	return cmd
}

func newDeleteCommand() *cobra.Command {
	var (
		t       target
		wait    bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete virtual clusters, with their control planes, data and host namespaces",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := t.client()
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				vc := &fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
				if err := c.Delete(cmd.Context(), vc); err != nil {
					errs = append(errs, apiError(err))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "virtualcluster.fleet.vfleet.dev %q deleted\n", name)
			}
			if !wait {
				return errors.Join(errs...)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			p := newProgress(cmd.ErrOrStderr())
			for _, name := range args {
				if err := waitGone(ctx, c, client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	t.addFlags(cmd)
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until everything of the vcluster is gone")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	return cmd
}

func waitGone(ctx context.Context, c client.Client, key client.ObjectKey, p *progress) error {
	for {
		vc := &fleetv1.VirtualCluster{}
		err := c.Get(ctx, key, vc)
		if apierrors.IsNotFound(err) {
			p.show(key.Name + ": gone")
			return nil
		}
		if err != nil {
			return apiError(err)
		}
		p.show(fmt.Sprintf("%s: %s %s", key.Name, phaseOf(vc), summary(vc)))
		select {
		case <-ctx.Done():
			return fmt.Errorf("vcluster %s still there: %s", key.Name, summary(vc))
		case <-time.After(250 * time.Millisecond):
		}
	}
}
