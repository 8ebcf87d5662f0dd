// Package apis holds vfleet's API: the fleet.vfleet.dev types under
// fleet/, and the scheme every component reads and writes them with.
package apis

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// Scheme holds Kubernetes' built-in types and vfleet's: all that the hub,
// the agent, the syncer and the CLI read or write.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = fleetv1.AddToScheme(s)
	return s
}
