package main

import (
	"github.com/spf13/cobra"

	"github.com/vfleet/vfleet/agent"
)

func newAgentCommand() *cobra.Command {
	o := agent.NewOptions()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the agent of one host cluster: join, heartbeat, report capacity",
		Args:  cobra.NoArgs,
	}
	setupLog := addLogFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		setupLog()
		return traced(cmd.Context(), "vfleet-agent", func() error { return agent.Run(cmd.Context(), o) })
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
