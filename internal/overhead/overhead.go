// Package overhead is what running one control plane costs its host beyond
// the vcluster's quota, as the hub reserves it and the agent counts it.
package overhead

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The default cost: kube-apiserver, kube-controller-manager, kine and the
// syncer of one vcluster, idle.
const (
	DefaultCPU    = "250m"
	DefaultMemory = "512Mi"
)

// Flags are that cost as the hub and the agent take it on their command
// lines. The hub reserves it when it places a vcluster and the agent counts
// it in what its host has committed, so the two share flags and defaults.
type Flags struct {
	CPU    string
	Memory string
}

// Default returns the defaults.
func Default() Flags { return Flags{CPU: DefaultCPU, Memory: DefaultMemory} }

// AddFlags binds o to --control-plane-overhead-cpu and -memory, with o's
// values as defaults.
func (o *Flags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.CPU, "control-plane-overhead-cpu", o.CPU, "CPU one control plane costs a host beyond its quota")
	fs.StringVar(&o.Memory, "control-plane-overhead-memory", o.Memory, "memory one control plane costs a host beyond its quota")
}

// Parse returns the quantities, or an error naming each flag that holds
// no non-negative quantity.
func (o Flags) Parse() (cpu, memory resource.Quantity, err error) {
	cpu, errCPU := nonNegative("--control-plane-overhead-cpu", o.CPU, DefaultCPU)
	memory, errMemory := nonNegative("--control-plane-overhead-memory", o.Memory, DefaultMemory)
	return cpu, memory, errors.Join(errCPU, errMemory)
}

func nonNegative(flag, value, example string) (resource.Quantity, error) {
	q, err := resource.ParseQuantity(value)
	if err != nil || q.Sign() < 0 {
		return resource.Quantity{}, fmt.Errorf("%s %q: want a non-negative quantity such as %s", flag, value, example)
	}
	return q, nil
}
