// Package events copies into the vcluster the host's Events about the
// objects the syncer made there: the scheduler placing a pod, an image
// pulled, a volume that will not attach. A tenant reads them on its own
// objects, under their virtual names.
package events

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/vfleet/vfleet/syncer"
)

// kinds are the involved objects whose Events are copied.
var kinds = map[string]func() client.Object{
	"Pod":                   func() client.Object { return &corev1.Pod{} },
	"Service":               func() client.Object { return &corev1.Service{} },
	"PersistentVolumeClaim": func() client.Object { return &corev1.PersistentVolumeClaim{} },
}

// Controller copies host Events into the vcluster.
type Controller struct {
	s *syncer.Context
}

var _ syncer.Controller = (*Controller)(nil)

// New returns the Event controller.
func New() syncer.Controller { return &Controller{} }

func (c *Controller) SetupWithSyncer(mgr ctrl.Manager, host cluster.Cluster, s *syncer.Context) error {
	c.s = s
	return ctrl.NewControllerManagedBy(mgr).
		Named("sync-events").
		WatchesRawSource(source.Kind(host.GetCache(), client.Object(&corev1.Event{}), &handler.EnqueueRequestForObject{})).
		Complete(c)
}

// Reconcile copies one host Event, if it is about an object of the
// vcluster, to that object's virtual counterpart.
func (c *Controller) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	s := c.s
	ev := &corev1.Event{}
	if err := s.Host.Get(ctx, req.NamespacedName, ev); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	newObj, ok := kinds[ev.InvolvedObject.Kind]
	if !ok || ev.InvolvedObject.Namespace != s.HostNamespace || hostOnly(ev) {
		return ctrl.Result{}, nil
	}
	about := newObj()
	if err := s.Host.Get(ctx, client.ObjectKey{Namespace: s.HostNamespace, Name: ev.InvolvedObject.Name}, about); err != nil {
		// Gone already, or never ours (not in the syncer's cache).
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	vkey, ok := syncer.VirtualKey(about)
	if !ok || !s.Owns(about) {
		return ctrl.Result{}, nil
	}
	name := vkey.Name + strings.TrimPrefix(ev.Name, about.GetName())
	virtual := &corev1.Event{}
	err := s.Virtual.Get(ctx, client.ObjectKey{Namespace: vkey.Namespace, Name: name}, virtual)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	exists := err == nil
	want := translate(ev, about, vkey, s.HostNamespace)
	if exists {
		if virtual.Count == want.Count && virtual.LastTimestamp.Equal(&want.LastTimestamp) && virtual.Message == want.Message {
			return ctrl.Result{}, nil
		}
		virtual.Count, virtual.LastTimestamp, virtual.Message, virtual.Series = want.Count, want.LastTimestamp, want.Message, want.Series
		err = s.Virtual.Update(ctx, virtual)
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: syncer.Retry}, nil
		}
		return ctrl.Result{}, err
	}
	want.Name, want.Namespace = name, vkey.Namespace
	return ctrl.Result{}, client.IgnoreAlreadyExists(s.Virtual.Create(ctx, want))
}

// translate is the virtual copy of a host Event: about the virtual object,
// with the host's names of it in its message replaced by the virtual ones,
// in every form the host's components write them: "ns/name", the
// kubelet's "name_ns(uid)", the name, the namespace and the UID alone.
func translate(ev *corev1.Event, about client.Object, vkey client.ObjectKey, hostNamespace string) *corev1.Event {
	msg := syncer.VirtualNames(about, vkey, hostNamespace).Replace(ev.Message)
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{syncer.LabelSyncedFrom: "true"}},
		InvolvedObject: corev1.ObjectReference{
			Kind: ev.InvolvedObject.Kind, APIVersion: ev.InvolvedObject.APIVersion, Namespace: vkey.Namespace, Name: vkey.Name,
			UID: types.UID(about.GetAnnotations()[syncer.AnnotationVirtualUID]), FieldPath: ev.InvolvedObject.FieldPath,
		},
		Reason: ev.Reason, Message: msg, Type: ev.Type, Source: ev.Source,
		FirstTimestamp: ev.FirstTimestamp, LastTimestamp: ev.LastTimestamp, Count: ev.Count,
		EventTime: ev.EventTime, Series: ev.Series, Action: ev.Action,
		ReportingController: ev.ReportingController, ReportingInstance: ev.ReportingInstance,
	}
}

// hostOnly reports whether ev is the routine news of what only the host
// copy of a pod has, the init container that writes its hosts file (its
// image pulled, its start): it would name a container the tenant's pod
// does not have. Its warnings do reach the tenant, whose pod waits on it.
func hostOnly(ev *corev1.Event) bool {
	return ev.Type == corev1.EventTypeNormal && ev.InvolvedObject.FieldPath == "spec.initContainers{"+syncer.HostsFileContainer+"}"
}
