package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vfleet/vfleet/federation"
)

// federationFlags are what an operator's federation command needs: a
// member's address, and a certificate of the federation's CA.
type federationFlags struct {
	peer, cert, key, ca, output string
}

func (f *federationFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.peer, "peer", "", "address (IP:port) of any member of the federation")
	fs.StringVar(&f.cert, "cert-file", "", "your certificate of the federation's CA")
	fs.StringVar(&f.key, "key-file", "", "private key of --cert-file")
	fs.StringVar(&f.ca, "ca-file", "", "the federation's CA certificate")
	_ = cmd.MarkFlagRequired("peer")
	_ = cmd.MarkFlagRequired("cert-file")
	_ = cmd.MarkFlagRequired("key-file")
	_ = cmd.MarkFlagRequired("ca-file")
}

func (f *federationFlags) client() (*federation.Client, error) {
	o := federation.Options{CertFile: f.cert, KeyFile: f.key, CAFile: f.ca}
	cfg, err := o.TLS()
	if err != nil {
		return nil, err
	}
	return federation.NewClient(cfg), nil
}

func newFederationCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "federation",
		Short: "Show and change the federation of regional hubs",
		Long: "A federated hub runs a raft peer (vfleet hub --federation-id ...); these commands ask any member, " +
			"which passes changes on to the leader.",
	}
	cmd.AddCommand(newFederationStatusCommand(), newFederationJoinCommand(), newFederationRemoveCommand())
	return cmd
}

func newFederationStatusCommand() *cobra.Command {
	var f federationFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the leader, the members and the last applied index, as one member sees them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(f.output); err != nil {
				return err
			}
			return withClient(cmd.Context(), &f, func(ctx context.Context, c *federation.Client) error {
				st, err := c.Status(ctx, f.peer)
				if err != nil {
					return err
				}
				if f.output != "" {
					return printObject(cmd.OutOrStdout(), f.output, st)
				}
				return printFederationStatus(cmd.OutOrStdout(), st)
			})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "json or yaml")
	return cmd
}

func printFederationStatus(w io.Writer, st federation.Status) error {
	leader := st.Leader.ID
	if leader == "" {
		leader = "none (no quorum?)"
	}
	quorum := "yes"
	if !st.Quorum {
		quorum = "NO: this hub places and fails over nothing until it reaches a quorum again"
	}
	fmt.Fprintf(w, "Peer:     %s (%s)\nLeader:   %s %s\nQuorum:   %s\nTerm:     %d\nApplied:  %d of %d\n\n", st.ID, st.State, leader, st.Leader.Address, quorum, st.Term, st.AppliedIndex, st.LastIndex)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tADDRESS\tVOTER\tLEADER")
	for _, m := range st.Members {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%v\n", m.ID, m.Address, m.Voter, m.ID == st.Leader.ID)
	}
	return tw.Flush()
}

func newFederationJoinCommand() *cobra.Command {
	var f federationFlags
	cmd := &cobra.Command{
		Use:   "join ID ADDRESS",
		Short: "Add the hub ID, whose peer listens at ADDRESS, to the federation",
		Long: "Usually a hub joins by itself (vfleet hub --federation-join MEMBER); this is for a hub started " +
			"before the others. The leader dials ADDRESS first and refuses a hub it cannot reach or whose certificate it does not trust.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClient(cmd.Context(), &f, func(ctx context.Context, c *federation.Client) error {
				if err := c.Join(ctx, f.peer, args[0], args[1]); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "hub %s joined the federation\n", args[0])
				return err
			})
		},
	}
	f.add(cmd)
	return cmd
}

func newFederationRemoveCommand() *cobra.Command {
	var f federationFlags
	cmd := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove the hub ID from the federation (its region's vclusters stay in the ledger)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClient(cmd.Context(), &f, func(ctx context.Context, c *federation.Client) error {
				if err := c.Remove(ctx, f.peer, args[0]); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "hub %s removed from the federation\n", args[0])
				return err
			})
		},
	}
	f.add(cmd)
	return cmd
}

func withClient(ctx context.Context, f *federationFlags, do func(context.Context, *federation.Client) error) error {
	c, err := f.client()
	if err != nil {
		return err
	}
	return do(ctx, c)
}
