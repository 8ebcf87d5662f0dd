// Package resources lists what the syncer syncs.
package resources

import (
	"github.com/vfleet/vfleet/syncer"
	"github.com/vfleet/vfleet/syncer/resources/configmaps"
	"github.com/vfleet/vfleet/syncer/resources/endpoints"
	"github.com/vfleet/vfleet/syncer/resources/endpointslices"
	"github.com/vfleet/vfleet/syncer/resources/events"
	"github.com/vfleet/vfleet/syncer/resources/ingresses"
	"github.com/vfleet/vfleet/syncer/resources/networkpolicies"
	"github.com/vfleet/vfleet/syncer/resources/nodes"
	"github.com/vfleet/vfleet/syncer/resources/pdbs"
	"github.com/vfleet/vfleet/syncer/resources/pods"
	"github.com/vfleet/vfleet/syncer/resources/pvcs"
	"github.com/vfleet/vfleet/syncer/resources/secrets"
	"github.com/vfleet/vfleet/syncer/resources/services"
	"github.com/vfleet/vfleet/syncer/resources/storage"
)

// All are the resources synced from the virtual cluster to the host.
func All() []syncer.Resource {
	return []syncer.Resource{
		configmaps.New(), secrets.New(), pvcs.New(), services.New(), endpoints.New(), endpointslices.New(), pods.New(),
		pdbs.New(), networkpolicies.New(), ingresses.New(),
	}
}

// Controllers are the parts that bring host objects into the vcluster.
func Controllers() []syncer.Controller {
	return []syncer.Controller{nodes.New(), events.New(), storage.NewClasses(), storage.NewVolumes()}
}
