package version

import (
	"testing"

	"github.com/vfleet/vfleet/placement/framework"
)

func TestFilter(t *testing.T) {
	host := &framework.Host{Versions: []string{"v1.36.3", "v1.35.7"}}
	for _, tc := range []struct {
		version string
		ok      bool
	}{{"v1.36.3", true}, {"v1.35.7", true}, {"v1.34.0", false}} {
		ok, reason := Plugin{}.Filter(&framework.Request{Version: tc.version}, host, nil)
		if ok != tc.ok || (!ok && reason != "no "+tc.version+" binaries") {
			t.Errorf("%s: got %v %q", tc.version, ok, reason)
		}
	}
	if ok, _ := (Plugin{}).Filter(&framework.Request{Version: "v1.36.3"}, &framework.Host{}, nil); ok {
		t.Error("a host that reported no versions passed")
	}
}
