package steady

import (
	"testing"

	"github.com/vfleet/vfleet/placement/framework"
)

func TestScore(t *testing.T) {
	req := &framework.Request{CurrentHost: "a"}
	if !(Plugin{}).Relevant(req) || (Plugin{}).Relevant(&framework.Request{}) {
		t.Fatal("relevance")
	}
	if got := (Plugin{}).Score(req, &framework.Host{Name: "a"}, nil); got != 100 {
		t.Fatalf("current host %d", got)
	}
	if got := (Plugin{}).Score(req, &framework.Host{Name: "b"}, nil); got != 0 {
		t.Fatalf("other host %d", got)
	}
}
