package v1alpha1

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
)

// The default of what running one control plane costs its host beyond the
// vcluster's quota: kube-apiserver, kube-controller-manager, kine and the
// syncer.
const (
	DefaultControlPlaneOverheadCPU    = "250m"
	DefaultControlPlaneOverheadMemory = "512Mi"
)

// ControlPlaneOverhead is that cost as the hub and the agent take it on
// their command lines. The hub reserves it when it places a vcluster and
// the agent counts it in what its host has committed, so the two share
// flags and defaults.
// +kubebuilder:object:generate=false
type ControlPlaneOverhead struct {
	CPU    string
	Memory string
}

// DefaultControlPlaneOverhead returns the defaults.
func DefaultControlPlaneOverhead() ControlPlaneOverhead {
	return ControlPlaneOverhead{CPU: DefaultControlPlaneOverheadCPU, Memory: DefaultControlPlaneOverheadMemory}
}

// AddFlags binds o to --control-plane-overhead-cpu and -memory, with o's
// values as defaults. fs is a pflag or flag FlagSet; the API does not
// depend on either.
func (o *ControlPlaneOverhead) AddFlags(fs interface {
	StringVar(p *string, name, value, usage string)
}) {
	fs.StringVar(&o.CPU, "control-plane-overhead-cpu", o.CPU, "CPU one control plane costs a host beyond its quota")
	fs.StringVar(&o.Memory, "control-plane-overhead-memory", o.Memory, "memory one control plane costs a host beyond its quota")
}

// Parse returns the quantities, or an error naming each flag that holds
// no non-negative quantity.
func (o ControlPlaneOverhead) Parse() (cpu, memory resource.Quantity, err error) {
	cpu, errCPU := nonNegative("--control-plane-overhead-cpu", o.CPU, DefaultControlPlaneOverheadCPU)
	memory, errMemory := nonNegative("--control-plane-overhead-memory", o.Memory, DefaultControlPlaneOverheadMemory)
	return cpu, memory, errors.Join(errCPU, errMemory)
}

func nonNegative(flag, value, example string) (resource.Quantity, error) {
	q, err := resource.ParseQuantity(value)
	if err != nil || q.Sign() < 0 {
		return resource.Quantity{}, fmt.Errorf("%s %q: want a non-negative quantity such as %s", flag, value, example)
	}
	return q, nil
}
