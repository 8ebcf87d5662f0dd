package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/internal/moves"
)

// newMoveCommands are the operator's verbs that move vclusters.
func newMoveCommands() []*cobra.Command {
	return []*cobra.Command{newFailoverCommand(), newMigrateCommand(), newDrainCommand()}
}

func newFailoverCommand() *cobra.Command {
	return newMoveCommand(moveCommand{
		use:   "failover NAME",
		short: "Fence a vcluster's control plane now and bring it up on another host from its External store",
		long: `Fence a vcluster's control plane now and bring it up on another host.

The running control plane's store credentials are revoked first, whatever
state its host is in; the vcluster then starts on another host (or --to
HOST) at the next epoch, with every write it acknowledged.`,
		typ:    fleetv1.OperationFailover,
		toHelp: "host to fail over to (default: the best other host)",
	})
}

func newMigrateCommand() *cobra.Command {
	return newMoveCommand(moveCommand{
		use:   "migrate NAME --to HOST",
		short: "Move a vcluster to another host: stop its control plane cleanly, then start it there",
		long: `Move a vcluster to another host, planned and graceful.

Its control plane stops cleanly before the new one starts on HOST from the
External store. The command reports how long the vcluster's API did not
answer, as a tenant would have seen it.`,
		typ:      fleetv1.OperationMigration,
		toHelp:   "host to move the vcluster to (required)",
		toNeeded: true,
		downtime: true,
	})
}

// moveCommand describes a verb that moves one vcluster.
type moveCommand struct {
	use, short, long, toHelp string
	typ                      fleetv1.OperationType
	// toNeeded makes --to required; downtime measures the API's downtime.
	toNeeded, downtime bool
}

func newMoveCommand(mc moveCommand) *cobra.Command {
	var (
		t       target
		to      string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use: mc.use, Short: mc.short, Long: mc.long,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if mc.toNeeded && to == "" {
				return errors.New("--to HOST is required: the host to move the vcluster to")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return runMove(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), &t, args[0], moves.Move{Type: mc.typ, To: to}, mc.downtime)
		},
	}
	t.addFlags(cmd)
	cmd.Flags().StringVar(&to, "to", "", mc.toHelp)
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the vcluster to be Ready again")
	return cmd
}

// runMove asks for m, follows it, and prints the outcome; probe measures
// the API's downtime meanwhile.
func runMove(ctx context.Context, out, errOut io.Writer, t *target, name string, m moves.Move, probe bool) error {
	c, vc, err := t.get(ctx, name)
	if err != nil {
		return err
	}
	if err := virtualcluster.CheckMove(ctx, c, vc, m.To); err != nil {
		return err
	}
	var prober *moves.Prober
	if probe {
		prober = moves.NewProber(c, vc)
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		go prober.Run(pctx)
	}
	op, err := move(ctx, c, errOut, vc, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "virtualcluster.fleet.vfleet.dev/%s: %s\n", name, op.Message)
	if prober != nil {
		fmt.Fprintf(out, "API unavailable for %s\n", prober.Downtime().Round(10*time.Millisecond))
	}
	return nil
}

// move requests m for vc and waits for its outcome, showing progress.
func move(ctx context.Context, c client.Client, errOut io.Writer, vc *fleetv1.VirtualCluster, m moves.Move) (*fleetv1.OperationStatus, error) {
	var id string
	// The hub writes the vcluster's status meanwhile: asked again over
	// the vcluster read again.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		if id, err = moves.Request(ctx, c, vc, m); apierrors.IsConflict(err) {
			if gerr := c.Get(ctx, client.ObjectKeyFromObject(vc), vc); gerr != nil {
				return gerr
			}
		}
		return err
	})
	if err != nil {
		return nil, apiError(err)
	}
	p := newProgress(errOut)
	return moves.Wait(ctx, c, client.ObjectKeyFromObject(vc), id, func(s string) { p.show(vc.Name + ": " + s) })
}

func newDrainCommand() *cobra.Command {
	var (
		t       target
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "drain HOST",
		Short: "Cordon a host and migrate every vcluster off it",
		Long: `Cordon a host, so that nothing new is placed on it, then migrate every
vcluster it runs to other hosts, one at a time.

Vclusters with an Embedded store cannot move; they are named, stay where
they are, and the command fails once the others have moved.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			c, _, err := t.client()
			if err != nil {
				return err
			}
			return drain(ctx, c, cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0])
		},
	}
	t.addFlags(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Minute, "how long to wait for the host to be empty")
	return cmd
}

func drain(ctx context.Context, c client.Client, out, errOut io.Writer, hostName string) error {
	host := &fleetv1.HostCluster{}
	if err := c.Get(ctx, client.ObjectKey{Name: hostName}, host); err != nil {
		return apiError(err)
	}
	if !host.Spec.Unschedulable {
		before := host.DeepCopy()
		host.Spec.Unschedulable = true
		if err := c.Patch(ctx, host, client.MergeFrom(before)); err != nil {
			return apiError(err)
		}
	}
	fmt.Fprintf(out, "hostcluster.fleet.vfleet.dev/%s cordoned\n", hostName)
	var list fleetv1.VirtualClusterList
	if err := c.List(ctx, &list); err != nil {
		return apiError(err)
	}
	var errs []error
	for i := range list.Items {
		vc := &list.Items[i]
		if vc.Status.Host != hostName || !vc.DeletionTimestamp.IsZero() {
			continue
		}
		m := moves.Move{Type: fleetv1.OperationMigration, Reason: fleetv1.PlacementDrain}
		if err := virtualcluster.CheckMove(ctx, c, vc, m.To); err != nil {
			errs = append(errs, err)
			continue
		}
		op, err := move(ctx, c, errOut, vc, m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "virtualcluster.fleet.vfleet.dev/%s (namespace %s): %s\n", vc.Name, vc.Namespace, op.Message)
	}
	if len(errs) > 0 {
		return fmt.Errorf("host %s is cordoned but not empty: %w", hostName, errors.Join(errs...))
	}
	fmt.Fprintf(out, "hostcluster.fleet.vfleet.dev/%s drained\n", hostName)
	return nil
}
