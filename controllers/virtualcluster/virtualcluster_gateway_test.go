package virtualcluster

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/vfleet/vfleet/apis/fleet/v1alpha1"
)

func TestRouteTo(t *testing.T) {
	gw := Gateway{Address: "gw.example:443", Domain: "vclusters.example"}
	vc := &fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "dev"}}
	const name = "dev.team.vclusters.example"
	for _, tc := range []struct {
		name           string
		gw             Gateway
		epoch, fencing int64
		endpoint       string
		want           *fleetv1.GatewayRoute
	}{
		{"no gateway", Gateway{}, 2, 1, "https://10.0.0.1:6443", nil},
		{"running", gw, 2, 1, "https://10.0.0.1:6443", &fleetv1.GatewayRoute{ServerName: name, Address: "10.0.0.1:6443", Epoch: 2}},
		{"not running", gw, 2, 1, "", &fleetv1.GatewayRoute{ServerName: name}},
		{"its fence has begun", gw, 2, 2, "https://10.0.0.1:6443", &fleetv1.GatewayRoute{ServerName: name}},
		{"an endpoint with no host", gw, 2, 1, "https://", &fleetv1.GatewayRoute{ServerName: name}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fleetv1.VirtualClusterStatus{Epoch: tc.epoch, FencingEpoch: tc.fencing, FencedEpoch: tc.fencing}
			tc.gw.routeTo(&s, vc, tc.endpoint)
			if (s.Gateway == nil) != (tc.want == nil) || s.Gateway != nil && *s.Gateway != *tc.want {
				t.Errorf("route = %+v; want %+v", s.Gateway, tc.want)
			}
		})
	}
}

func TestGatewayValidate(t *testing.T) {
	for _, tc := range []struct {
		gw      Gateway
		wantErr string
	}{
		{Gateway{}, ""},
		{Gateway{Address: "127.0.0.1:7443", Domain: DefaultGatewayDomain}, ""},
		{Gateway{Address: "gw.example.com:443", Domain: "vc.example.com"}, ""},
		{Gateway{Address: "https://gw:443", Domain: DefaultGatewayDomain}, "--gateway-address"},
		{Gateway{Address: "gw", Domain: DefaultGatewayDomain}, "--gateway-address"},
		{Gateway{Address: "gw:0", Domain: DefaultGatewayDomain}, "--gateway-address"},
		{Gateway{Address: "gw:443", Domain: "Upper.Case"}, "--gateway-domain"},
		{Gateway{Address: "gw:443", Domain: ""}, "--gateway-domain"},
		{Gateway{Address: "gw:443", Domain: strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60)}, "--gateway-domain"},
	} {
		err := tc.gw.Validate()
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%+v: Validate() = %v; want an error naming %q", tc.gw, err, tc.wantErr)
		}
	}
}

func TestThroughGateway(t *testing.T) {
	gw := Gateway{Address: "gw.example:443", Domain: "vclusters.example"}
	vc := &fleetv1.VirtualCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "dev"}}
	for _, bad := range []string{"not: [yaml", "apiVersion: v1\nkind: Config\n"} {
		if _, err := gw.throughGateway(vc, []byte(bad)); err == nil {
			t.Errorf("a published kubeconfig %q was taken", bad)
		}
	}
	published := "apiVersion: v1\nkind: Config\nclusters:\n- name: vc\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: Y2E=\n"
	got, err := gw.throughGateway(vc, []byte(published))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server: https://gw.example:443", "tls-server-name: dev.team.vclusters.example", "certificate-authority-data: Y2E="} {
		if !strings.Contains(string(got), want) {
			t.Errorf("kubeconfig through the gateway lacks %q:\n%s", want, got)
		}
	}
	if same, _ := (Gateway{}).throughGateway(vc, []byte(published)); string(same) != published {
		t.Error("with no gateway, the published kubeconfig was changed")
	}
}
