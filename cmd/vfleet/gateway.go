package main

import (
	"github.com/spf13/cobra"

	"github.com/vfleet/vfleet/gateway"
)

func newGatewayCommand() *cobra.Command {
	o := gateway.NewRunOptions()
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run a region's gateway: one endpoint for every vcluster, routed by TLS server name to where it runs now",
		Args:  cobra.NoArgs,
	}
	setupLog := addLogFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		setupLog()
		return gateway.Run(cmd.Context(), o)
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
