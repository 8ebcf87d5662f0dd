package gateway

import (
	"context"
	"fmt"
	"net"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/vfleet/vfleet/apis"
	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

// RouteOf is the route the hub published for vc, and whether it
// published one. The address is kept only for the current epoch, and
// only while no fence of it has begun, whatever the hub wrote: the
// gateway never sends a connection to a control plane being fenced.
func RouteOf(vc *fleetv1.VirtualCluster) (Route, bool) {
	gw := vc.Status.Gateway
	if gw == nil || gw.ServerName == "" || vc.DeletionTimestamp != nil {
		return Route{}, false
	}
	r := Route{ServerName: gw.ServerName, VirtualCluster: types.NamespacedName{Namespace: vc.Namespace, Name: vc.Name}, UID: vc.UID}
	s := vc.Status
	if gw.Address != "" && gw.Epoch == s.Epoch && gw.Epoch > s.FencingEpoch && gw.Epoch > s.FencedEpoch && validAddress(gw.Address) {
		r.Address, r.Epoch = gw.Address, gw.Epoch
	}
	return r, true
}

func validAddress(a string) bool {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 1<<16
}

// CacheOptions keep of each VirtualCluster only what a route needs: a
// region's gateway holds every vcluster of the region.
func CacheOptions() cache.Options {
	return cache.Options{
		Scheme: apis.Scheme(),
		DefaultTransform: func(obj any) (any, error) {
			if vc, ok := obj.(*fleetv1.VirtualCluster); ok {
				return &fleetv1.VirtualCluster{
					ObjectMeta: metav1.ObjectMeta{Namespace: vc.Namespace, Name: vc.Name, UID: vc.UID, DeletionTimestamp: vc.DeletionTimestamp, ResourceVersion: vc.ResourceVersion},
					Status: fleetv1.VirtualClusterStatus{Epoch: vc.Status.Epoch, FencedEpoch: vc.Status.FencedEpoch,
						FencingEpoch: vc.Status.FencingEpoch, Gateway: vc.Status.Gateway},
				}, nil
			}
			return obj, nil
		},
	}
}

// Watch fills g's routes from the VirtualClusters informers has, until
// ctx ends. It returns once the first list is in the table.
func (g *Gateway) Watch(ctx context.Context, informers cache.Informers) error {
	inf, err := informers.GetInformer(ctx, &fleetv1.VirtualCluster{})
	if err != nil {
		return err
	}
	// The server name a vcluster was last routed by, so that a change of
	// it (a new hub domain) drops the old one.
	names := map[types.NamespacedName]string{}
	update := func(obj any) {
		vc, ok := obj.(*fleetv1.VirtualCluster)
		if !ok {
			return
		}
		key := types.NamespacedName{Namespace: vc.Namespace, Name: vc.Name}
		r, ok := RouteOf(vc)
		if old := names[key]; old != "" && (!ok || old != r.ServerName) {
			g.routes.Delete(old, key)
			delete(names, key)
		}
		if !ok {
			return
		}
		if !g.routes.Set(r) {
			g.log.Info("Two vclusters claim one server name; the first keeps it", "serverName", r.ServerName, "virtualCluster", key)
			return
		}
		names[key] = r.ServerName
	}
	remove := func(obj any) {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		vc, ok := obj.(*fleetv1.VirtualCluster)
		if !ok {
			return
		}
		key := types.NamespacedName{Namespace: vc.Namespace, Name: vc.Name}
		if old := names[key]; old != "" {
			g.routes.Delete(old, key)
			delete(names, key)
		}
	}
	// The informer calls its handlers one at a time, so names needs no
	// lock.
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    update,
		UpdateFunc: func(_, obj any) { update(obj) },
		DeleteFunc: remove,
	})
	if err != nil {
		return err
	}
	if !informers.WaitForCacheSync(ctx) || !toolscache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return fmt.Errorf("the VirtualClusters of the management cluster were not listed: %w", context.Cause(ctx))
	}
	return nil
}
