package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// newSleepCommands put a vcluster to sleep and wake it.
func newSleepCommands() []*cobra.Command {
	return []*cobra.Command{
		newSleepCommand(true, "sleep NAME", "Stop a vcluster's control plane and its pods, keeping its objects and store",
			`Put a vcluster to sleep: its control plane stops and its pods are removed
from the host; its objects and its store are kept, and nothing of it runs.
It sleeps until 'vfleet wake NAME'.`),
		newSleepCommand(false, "wake NAME", "Start a sleeping vcluster again; its pods run again",
			`Wake a sleeping vcluster: its control plane starts again with everything it
held, and its syncer makes its pods on the host again.`),
	}
}

func newSleepCommand(sleeping bool, use, short, long string) *cobra.Command {
	var (
		t       target
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return setSleeping(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), &t, args[0], sleeping)
		},
	}
	t.addFlags(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Minute, "how long to wait for the vcluster to be asleep, or Ready")
	return cmd
}

// setSleeping asks for vc to sleep or wake, and waits until it does.
func setSleeping(ctx context.Context, out, errOut io.Writer, t *target, name string, sleeping bool) error {
	c, vc, err := t.get(ctx, name)
	if err != nil {
		return err
	}
	start := time.Now()
	patch := fmt.Sprintf(`{"spec":{"sleep":{"sleeping":%t}}}`, sleeping)
	if !sleeping {
		// Also ends a sleep for inactivity, which the spec does not say.
		patch = fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}},"spec":{"sleep":{"sleeping":false}}}`, fleetv1.AnnotationWake, start.UTC().Format(time.RFC3339Nano))
	}
	if err := c.Patch(ctx, vc, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		return apiError(err)
	}
	want, verb := fleetv1.PhaseReady, "wake"
	if sleeping {
		want, verb = fleetv1.PhaseSleeping, "go to sleep"
	}
	p := newProgress(errOut)
	err = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(vc), vc); err != nil {
			return false, err
		}
		if vc.Status.Phase == want && vc.Status.ObservedGeneration == vc.Generation {
			return true, nil
		}
		p.show(fmt.Sprintf("%s: %s (%s)", name, orNone(string(vc.Status.Phase)), summary(vc)))
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("vcluster %s did not %s: %w (see 'vfleet describe %s')", name, verb, err, name)
	}
	if sleeping {
		fmt.Fprintf(out, "virtualcluster.fleet.vfleet.dev/%s: asleep: no process and no pod of it runs; its objects and store are kept ('vfleet wake %s')\n", name, name)
	} else {
		fmt.Fprintf(out, "virtualcluster.fleet.vfleet.dev/%s: awake on host %s in %s\n", name, vc.Status.Host, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}
