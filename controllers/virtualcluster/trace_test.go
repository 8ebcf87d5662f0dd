package virtualcluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
	"github.com/vfleet/vfleet/controllers/virtualcluster"
	"github.com/vfleet/vfleet/internal/tracing"
	"github.com/vfleet/vfleet/internal/tracing/tracingtest"
	"github.com/vfleet/vfleet/lab/pgserver"
	"github.com/vfleet/vfleet/test/pgtest"
)

// runControlPlane does what the host's agent does once vc's control plane
// runs: it reports so on the ControlPlane and publishes its kubeconfig.
func runControlPlane(t *testing.T, vc *fleetv1.VirtualCluster) {
	t.Helper()
	ctx := context.Background()
	cp := &fleetv1.ControlPlane{}
	key := client.ObjectKey{Namespace: fleetv1.HostNamespace(vc.Status.Host), Name: virtualcluster.ControlPlaneName(vc)}
	// Each epoch's control plane at an address of its own.
	endpoint := fmt.Sprintf("https://10.0.%d.1:6443", vc.Status.Epoch%250)
	eventually(t, func(g gomega.Gomega) {
		g.Expect(k8s.Get(ctx, key, cp)).To(gomega.Succeed())
		g.Expect(cp.Spec.Epoch).To(gomega.Equal(vc.Status.Epoch))
		cp.Status = fleetv1.ControlPlaneStatus{ObservedGeneration: cp.Generation, Phase: fleetv1.ControlPlaneRunning, Epoch: cp.Spec.Epoch, Endpoint: endpoint}
		g.Expect(k8s.Status().Update(ctx, cp)).To(gomega.Succeed())
	})
	published := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: cp.Namespace, Name: fleetv1.PublishedKubeconfigSecret(cp.Name), Labels: map[string]string{fleetv1.LabelVirtualClusterUID: string(vc.UID)}},
		Data:       map[string][]byte{fleetv1.KubeconfigKey: publishedKubeconfig(t, endpoint)},
	}
	if err := k8s.Create(ctx, published); err != nil {
		t.Fatal(err)
	}
}

// readyWithoutTrace waits until vc is Ready at epoch and its operation's
// trace is over, and returns it.
func readyWithoutTrace(t *testing.T, vc *fleetv1.VirtualCluster, epoch int64) *fleetv1.VirtualCluster {
	t.Helper()
	var got *fleetv1.VirtualCluster
	eventually(t, func(g gomega.Gomega) {
		got = get(t, vc)
		g.Expect(got.Status.Phase).To(gomega.Equal(fleetv1.PhaseReady), "conditions: %+v", got.Status.Conditions)
		g.Expect(got.Status.Epoch).To(gomega.Equal(epoch))
		g.Expect(got.Status.Trace).To(gomega.BeNil())
	})
	return got
}

// spansOf are the spans of the trace traceparent names, by name, once its
// root is recorded; each name must occur once.
func spansOf(t *testing.T, exp *tracetest.InMemoryExporter, traceparent string) (trace.SpanContext, map[string]tracetest.SpanStub) {
	t.Helper()
	root, ok := tracing.Parse(traceparent)
	if !ok {
		t.Fatalf("status.trace.traceparent %q is not one", traceparent)
	}
	// A step that failed is retried (a fence whose store did not answer,
	// on a loaded machine): each failed attempt is a span of its own, an
	// error under the root, before the one that succeeded.
	// The hub records the root just after the status write that ends the
	// trace, which the caller waited for: wait for the root too.
	var spans tracetest.SpanStubs
	gomega.NewWithT(t).Eventually(func() bool {
		spans = exp.GetSpans()
		for _, s := range spans {
			if s.SpanContext.TraceID() == root.TraceID() && s.SpanContext.SpanID() == root.SpanID() {
				return true
			}
		}
		return false
	}).WithTimeout(30*time.Second).WithPolling(50*time.Millisecond).Should(gomega.BeTrue(), "the root span of %s", traceparent)
	var mine tracetest.SpanStubs
	for _, s := range spans {
		switch {
		case s.SpanContext.TraceID() != root.TraceID():
		case s.Status.Code == codes.Error && s.Parent.IsValid():
			t.Logf("a failed attempt: %s: %s", s.Name, s.Status.Description)
			if s.Parent.SpanID() != root.SpanID() {
				t.Errorf("failed attempt %q (%s) is under %s, want the root %s", s.Name, s.Status.Description, s.Parent.SpanID(), root.SpanID())
			}
		default:
			mine = append(mine, s)
		}
	}
	byName := tracingtest.ByName(mine)
	if len(byName) != len(mine) {
		for _, s := range mine {
			t.Logf("span %s %s..%s %v attrs %v", s.Name, s.StartTime.Format(time.StampMicro), s.EndTime.Format(time.StampMicro), s.Status, s.Attributes)
		}
		t.Errorf("a span name occurs twice in %d spans", len(mine))
	}
	return root, byName
}

// checkTrace: the root span is recorded with the IDs the status gave it,
// over the operation, and each step is its child.
func checkTrace(t *testing.T, root trace.SpanContext, spans map[string]tracetest.SpanStub, rootName string, start time.Time, steps ...string) {
	t.Helper()
	r, ok := spans[rootName]
	if !ok {
		t.Fatalf("no root span %q among %d spans", rootName, len(spans))
	}
	if r.SpanContext.SpanID() != root.SpanID() || r.Parent.IsValid() {
		t.Errorf("root %s: span %s under %v, want span %s with no parent", rootName, r.SpanContext.SpanID(), r.Parent.SpanID(), root.SpanID())
	}
	if !r.StartTime.Equal(start) {
		t.Errorf("root %s began %s, want %s", rootName, r.StartTime, start)
	}
	for _, step := range steps {
		s, ok := spans[step]
		switch {
		case !ok:
			t.Errorf("%s: no span %q", rootName, step)
		case s.Parent.SpanID() != root.SpanID():
			t.Errorf("%s: %q's parent is %s, want the root %s", rootName, step, s.Parent.SpanID(), root.SpanID())
		case s.StartTime.Before(r.StartTime) || s.EndTime.After(r.EndTime):
			t.Errorf("%s: %q ran %s..%s, outside the root's %s..%s", rootName, step, s.StartTime, s.EndTime, r.StartTime, r.EndTime)
		}
	}
}

// failOver adds host to the region of vc, a vcluster placed on another,
// makes the first fall silent and waits until host has taken vc over.
func failOver(t *testing.T, vc *fleetv1.VirtualCluster, host string) *fleetv1.VirtualCluster {
	t.Helper()
	ctx := context.Background()
	from := vc.Status.Host
	h := &fleetv1.HostCluster{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: from}, h); err != nil {
		t.Fatal(err)
	}
	addHost(t, host, h.Spec.Region, "8")
	for _, name := range []string{from, host} {
		if err := k8s.Status().Patch(ctx, &fleetv1.HostCluster{ObjectMeta: metav1.ObjectMeta{Name: name}},
			client.RawPatch("application/merge-patch+json", []byte(`{"status":{"selfFenceAfterSeconds":3}}`))); err != nil {
			t.Fatal(err)
		}
	}
	if err := k8s.Patch(ctx, vc, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"failover":{"afterSeconds":5}}}`))); err != nil {
		t.Fatal(err)
	}
	fallSilent(t, from)
	var moved *fleetv1.VirtualCluster
	gomega.NewWithT(t).Eventually(func(g gomega.Gomega) {
		poke(g, from)
		moved = get(t, vc)
		g.Expect(moved.Status.Host).To(gomega.Equal(host), "conditions: %+v", moved.Status.Conditions)
	}).WithTimeout(40 * time.Second).WithPolling(500 * time.Millisecond).Should(gomega.Succeed())
	return moved
}

// TestTracesACreateAndAFailover: a create and a failover are one trace
// each. The hub records its steps under the operation's root, hands the
// trace to the agent on the ControlPlane, and records the root itself once
// the vcluster is Ready again.
func TestTracesACreateAndAFailover(t *testing.T) {
	exp := tracingtest.Record(t)
	pg := pgtest.Start(t)
	vc, cp, _ := placeOnStore(t, "traced", fleetv1.BackingStoreSpec{Driver: fleetv1.DriverPostgreSQL, Endpoint: pg.Endpoint()},
		map[string][]byte{"username": []byte(pgserver.AdminUser), "password": []byte(pg.AdminPassword())}, nil)

	create := vc.Status.Trace
	if create == nil || create.Name != fleetv1.TraceCreate || create.FromEpoch != 0 || !create.StartTime.Equal(&vc.CreationTimestamp) {
		t.Fatalf("status.trace of a create = %+v", create)
	}
	if got := cp.Annotations[fleetv1.AnnotationTraceparent]; got != create.Traceparent {
		t.Errorf("ControlPlane's traceparent %q, want the create's %q", got, create.Traceparent)
	}
	runControlPlane(t, vc)
	vc = readyWithoutTrace(t, vc, 1)
	root, spans := spansOf(t, exp, create.Traceparent)
	checkTrace(t, root, spans, "VirtualCluster Create", create.StartTime.Time, "Place", "Provision store")

	moved := failOver(t, vc, "traced-b")
	failover := moved.Status.Trace
	if failover == nil || failover.Name != fleetv1.TraceFailover || failover.FromEpoch != 1 || failover.Traceparent == create.Traceparent {
		t.Fatalf("status.trace of a failover = %+v", failover)
	}
	// It counts from the silent host's last heartbeat, as the RTO does.
	if since := time.Since(failover.StartTime.Time); since < 5*time.Second || since > 2*time.Minute {
		t.Errorf("the failover's trace began %s ago, want from the host's last heartbeat", since)
	}
	runControlPlane(t, moved)
	readyWithoutTrace(t, vc, 2)
	root, spans = spansOf(t, exp, failover.Traceparent)
	checkTrace(t, root, spans, "VirtualCluster Failover", failover.StartTime.Time, "Fence", "Place", "Provision store")
}
