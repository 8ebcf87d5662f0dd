package main

import (
	"github.com/spf13/cobra"

	"github.com/vfleet/vfleet/syncer/hostsfile"
)

// newHostsFileCommand is what the init container of a vcluster's pod on
// its host runs: it writes the pod's /etc/hosts in the vcluster's names.
func newHostsFileCommand() *cobra.Command {
	var c hostsfile.Command
	cmd := &cobra.Command{
		Use:    "hosts-file",
		Short:  "Write a vcluster pod's /etc/hosts (run by the syncer's init container)",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return c.Run() },
	}
	c.AddFlags(cmd.Flags())
	return cmd
}
