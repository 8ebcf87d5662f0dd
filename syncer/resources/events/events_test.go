package events

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vfleet/vfleet/syncer"
)

// TestTranslateShowsNoHostName: what the host's kubelet and controllers
// write about a pod's host copy reaches the tenant with the pod's own
// names, whatever the form.
func TestTranslateShowsNoHostName(t *testing.T) {
	const hostNS, hostName, hostUID = "vc-demo-x-default", "web-1-x-shop-x-demo", "0f1e-host"
	about := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: hostNS, Name: hostName, UID: types.UID(hostUID),
		Annotations: map[string]string{syncer.AnnotationVirtualUID: "9a8b-virtual"}}}
	vkey := client.ObjectKey{Namespace: "shop", Name: "web-1"}
	for _, tc := range []struct{ in, want string }{
		{`Error: container has runAsNonRoot and image will run as root (pod: "web-1-x-shop-x-demo_vc-demo-x-default(0f1e-host)", container: web)`,
			`Error: container has runAsNonRoot and image will run as root (pod: "web-1_shop(9a8b-virtual)", container: web)`},
		{"Successfully assigned vc-demo-x-default/web-1-x-shop-x-demo to node-1", "Successfully assigned shop/web-1 to node-1"},
		{`Pulling image "busybox"`, `Pulling image "busybox"`},
		{"Stopping container web in pod web-1-x-shop-x-demo", "Stopping container web in pod web-1"},
		{"volume of pod 0f1e-host in namespace vc-demo-x-default", "volume of pod 9a8b-virtual in namespace shop"},
	} {
		got := translate(&corev1.Event{Message: tc.in, InvolvedObject: corev1.ObjectReference{Kind: "Pod"}}, about, vkey, hostNS)
		if got.Message != tc.want {
			t.Errorf("translate(%q)\n got %q\nwant %q", tc.in, got.Message, tc.want)
		}
		for _, host := range []string{hostNS, hostName, hostUID} {
			if strings.Contains(got.Message, host) {
				t.Errorf("%q still names %s", got.Message, host)
			}
		}
		if got.InvolvedObject.Namespace != "shop" || got.InvolvedObject.Name != "web-1" || got.InvolvedObject.UID != "9a8b-virtual" {
			t.Errorf("about %+v", got.InvolvedObject)
		}
	}
}
