package syncer

import (
	"context"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/apis"
)

// apiEndpointsKeeper writes the Endpoints and EndpointSlice of the
// vcluster's own `kubernetes` Service: the address and port its pods reach
// the API at, which their environment names. The vcluster's apiserver
// writes none (its endpoint reconciler is off: the address it listens on
// is not always the one pods use), and clients and conformance read them.
type apiEndpointsKeeper struct {
	c    client.Client
	ip   string
	port int32
}

// startAPIEndpoints starts the keeper when pods are given an address for
// the API. It reads the API server, not the manager's cache: a kind the
// cache has no informer for yet would start one, which a syncer being
// stopped might never see synced, and the stop would wait on it.
func startAPIEndpoints(mgr ctrl.Manager, cfg Config, s *Context) error {
	if net.ParseIP(s.APIServerHost) == nil || s.APIServerPort == 0 {
		return nil
	}
	c, err := client.New(unlimited(cfg.Virtual), client.Options{Scheme: apis.Scheme()})
	if err != nil {
		return err
	}
	return mgr.Add(&apiEndpointsKeeper{c: c, ip: s.APIServerHost, port: int32(s.APIServerPort)})
}

func (k *apiEndpointsKeeper) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("api-endpoints")
	tick := time.NewTicker(dnsRecheck)
	defer tick.Stop()
	for {
		if err := k.ensure(ctx); err != nil {
			log.Error(err, "Cannot write the kubernetes Service's endpoints")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (k *apiEndpointsKeeper) ensure(ctx context.Context) error {
	key := client.ObjectKey{Namespace: metav1.NamespaceDefault, Name: "kubernetes"}
	//nolint:staticcheck // Endpoints are what clients of the kubernetes Service still read
	want := []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: k.ip}},
		Ports:     []corev1.EndpointPort{{Name: "https", Port: k.port, Protocol: corev1.ProtocolTCP}},
	}}
	ep := &corev1.Endpoints{} //nolint:staticcheck // see above
	switch err := k.c.Get(ctx, key, ep); {
	case apierrors.IsNotFound(err):
		ep.ObjectMeta = metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			// The slice below is the one; no mirror of these.
			Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"}}
		ep.Subsets = want
		if err := k.c.Create(ctx, ep); client.IgnoreAlreadyExists(err) != nil {
			return fmt.Errorf("endpoints: %w", err)
		}
	case err != nil:
		return err
	case !equality.Semantic.DeepEqual(ep.Subsets, want) || ep.Labels[discoveryv1.LabelSkipMirror] != "true":
		if ep.Labels == nil {
			ep.Labels = map[string]string{}
		}
		ep.Labels[discoveryv1.LabelSkipMirror] = "true"
		ep.Subsets = want
		if err := k.c.Update(ctx, ep); err != nil {
			return fmt.Errorf("endpoints: %w", err)
		}
	}
	return ensureSlice(ctx, k.c, key, k.ip, []discoveryv1.EndpointPort{
		{Name: ptr.To("https"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(k.port)},
	}, nil)
}
