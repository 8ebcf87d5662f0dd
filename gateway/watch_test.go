package gateway

import (
	"net"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

func TestRouteOf(t *testing.T) {
	const name, addr = "a.t.vclusters.test", "10.0.0.1:6443"
	vc := func(epoch, fencing, fenced int64, gw *fleetv1.GatewayRoute) *fleetv1.VirtualCluster {
		v := &fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "t", Name: "a"}}
		v.Status.Epoch, v.Status.FencingEpoch, v.Status.FencedEpoch, v.Status.Gateway = epoch, fencing, fenced, gw
		return v
	}
	deleting := vc(3, 0, 0, &fleetv1.GatewayRoute{ServerName: name, Address: addr, Epoch: 3})
	deleting.DeletionTimestamp = &metav1.Time{}
	for _, tc := range []struct {
		name        string
		vc          *fleetv1.VirtualCluster
		known       bool
		wantAddress string
	}{
		{"no gateway named", vc(3, 0, 0, nil), false, ""},
		{"routed", vc(3, 2, 2, &fleetv1.GatewayRoute{ServerName: name, Address: addr, Epoch: 3}), true, addr},
		{"being placed: held", vc(3, 2, 2, &fleetv1.GatewayRoute{ServerName: name}), true, ""},
		{"fence of the routed epoch begun", vc(3, 3, 2, &fleetv1.GatewayRoute{ServerName: name, Address: addr, Epoch: 3}), true, ""},
		{"routed epoch fenced", vc(3, 3, 3, &fleetv1.GatewayRoute{ServerName: name, Address: addr, Epoch: 3}), true, ""},
		{"an older epoch's address", vc(4, 3, 3, &fleetv1.GatewayRoute{ServerName: name, Address: addr, Epoch: 3}), true, ""},
		{"an address that is not host:port", vc(3, 0, 0, &fleetv1.GatewayRoute{ServerName: name, Address: "https://10.0.0.1", Epoch: 3}), true, ""},
		{"being deleted", deleting, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, known := RouteOf(tc.vc)
			if known != tc.known || r.Address != tc.wantAddress {
				t.Errorf("RouteOf = %+v, %v; want address %q, known %v", r, known, tc.wantAddress, tc.known)
			}
			if known && (r.ServerName != name || r.VirtualCluster.Name != "a") {
				t.Errorf("RouteOf = %+v; want server name %s for t/a", r, name)
			}
		})
	}
}

// FuzzReadHello: whatever a client sends first, the gateway reads at most
// maxHello bytes of it and either finds a server name or refuses.
func FuzzReadHello(f *testing.F) {
	f.Add([]byte{22, 3, 1, 0, 5, 1, 0, 0, 1, 0})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		go func() {
			_, _ = client.Write(data)
			_ = client.Close()
		}()
		_, hello, err := readHello(server, time.Second)
		if err == nil && len(hello) > maxHello {
			t.Errorf("read %d bytes of a hello; at most %d", len(hello), maxHello)
		}
		_ = server.Close()
	})
}
