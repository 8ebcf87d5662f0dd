package main

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// newDescribeCommand shows one vcluster as a person reads it: its spec,
// status, conditions and recent events.
func newDescribeCommand() *cobra.Command {
	var t target
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a virtual cluster: placement and its explanation, endpoint, epoch, conditions, events",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, vc, err := t.get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ns := vc.Namespace
			events := &eventsv1.EventList{}
			if err := c.List(cmd.Context(), events, client.InNamespace(ns)); err != nil {
				return apiError(err)
			}
			describe(cmd.OutOrStdout(), vc, events.Items)
			return nil
		},
	}
	t.addFlags(cmd)
	return cmd
}

func describe(w io.Writer, vc *fleetv1.VirtualCluster, events []eventsv1.Event) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	defer func() { _ = tw.Flush() }()
	res := vc.Spec.Resources
	class := vc.Spec.ClassName
	if class == "" {
		class = fleetv1.DefaultClassName + " (none named)"
	}
	fmt.Fprintf(tw, "Name:\t%s\nNamespace:\t%s\nClass:\t%s\nPhase:\t%s\nKubernetes:\t%s\n", vc.Name, vc.Namespace, class, phaseOf(vc), vc.Spec.KubernetesVersion)
	fmt.Fprintf(tw, "Resources:\tcpu %s, memory %s, pods %d\n", res.CPU.String(), res.Memory.String(), res.Pods)
	store := string(vc.Spec.BackingStore.Type)
	if vc.Spec.BackingStore.Name != "" {
		store += " (" + vc.Spec.BackingStore.Name + ")"
	}
	fmt.Fprintf(tw, "Store:\t%s\nHost:\t%s\nEpoch:\t%d\nEndpoint:\t%s\n", store, orNone(vc.Status.Host), vc.Status.Epoch, orNone(vc.Status.Endpoint))
	if vc.Status.KubeconfigSecret != "" {
		fmt.Fprintf(tw, "Kubeconfig:\tSecret %s (vfleet connect %s%s)\n", vc.Status.KubeconfigSecret, vc.Name, nsFlag(vc.Namespace))
	}
	if c := meta.FindStatusCondition(vc.Status.Conditions, fleetv1.ConditionScheduled); c != nil {
		fmt.Fprintf(tw, "Placement:\t%s\n", c.Message)
	}
	fmt.Fprintln(tw, "Conditions:")
	fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tAGE\tMESSAGE")
	for _, c := range vc.Status.Conditions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, duration.HumanDuration(time.Since(c.LastTransitionTime.Time)), c.Message)
	}
	if len(vc.Status.PlacementHistory) > 0 {
		fmt.Fprintln(tw, "Placement history:")
		fmt.Fprintln(tw, "  EPOCH\tHOST\tREASON\tAGE")
		for _, p := range vc.Status.PlacementHistory {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", p.Epoch, p.Host, p.Reason, duration.HumanDuration(time.Since(p.Time.Time)))
		}
	}
	var mine []eventsv1.Event
	for _, e := range events {
		if e.Regarding.UID == vc.UID {
			mine = append(mine, e)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return eventTime(mine[i]).Before(eventTime(mine[j])) })
	if len(mine) == 0 {
		fmt.Fprintln(tw, "Events:\t<none>")
		return
	}
	fmt.Fprintln(tw, "Events:")
	fmt.Fprintln(tw, "  TYPE\tREASON\tAGE\tFROM\tMESSAGE")
	for _, e := range mine {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", e.Type, e.Reason, duration.HumanDuration(time.Since(eventTime(e))), e.ReportingController, e.Note)
	}
}

func eventTime(e eventsv1.Event) time.Time {
	if e.Series != nil {
		return e.Series.LastObservedTime.Time
	}
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.DeprecatedLastTimestamp.Time
}
