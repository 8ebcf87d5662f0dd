package lab

import (
	"path/filepath"

	"github.com/vfleet/vfleet/agent/runtime/process/record"
)

// ControlPlanePids returns the pids of the vcluster control planes this
// host's agent runs. They are not the lab's children: they outlive a
// restart of the agent, which adopts them.
func (c *Cluster) ControlPlanePids() []int {
	if c.Role != RoleHost {
		return nil
	}
	return controlPlanePids(c.paths.agentData)
}

func controlPlanePids(agentData string) []int {
	var pids []int
	for _, d := range record.Dirs(filepath.Join(agentData, "controlplanes")) {
		if pid := record.Pid(d); pid != 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// ControlPlaneDirs returns the data directories of the vcluster control
// planes this host's agent keeps, running or not.
func (c *Cluster) ControlPlaneDirs() []string {
	if c.Role != RoleHost {
		return nil
	}
	return record.Dirs(filepath.Join(c.paths.agentData, "controlplanes"))
}
