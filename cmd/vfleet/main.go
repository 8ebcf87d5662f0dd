// Command vfleet is the single vfleet binary: the lab today; the hub, the
// agent, the control plane and the tenant CLI as they land.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vfleet/vfleet/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		stop()
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "vfleet",
		Short:         "Run virtual Kubernetes clusters across a fleet of host clusters",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCommand(), newLabCommand(), newHubCommand(), newAgentCommand(), newControlPlaneCommand(), newFederationCommand(), newHostsFileCommand(), newGatewayCommand())
	root.AddCommand(newVClusterCommands()...)
	root.AddCommand(newMoveCommands()...)
	root.AddCommand(newSleepCommands()...)
	root.AddCommand(newTopCommand(), newCertsCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the vfleet version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), version.String())
		},
	}
}
