package images

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestCoreDNSTagIsItsPin keeps the CoreDNS image's tag the version
// hack/coredns builds.
func TestCoreDNSTagIsItsPin(t *testing.T) {
	mod, err := os.ReadFile("../../hack/coredns/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/coredns/coredns (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("hack/coredns/go.mod does not require CoreDNS")
	}
	if !strings.HasSuffix(CoreDNS, ":"+string(m[1])) {
		t.Fatalf("hack/coredns builds %s, the image is %s", m[1], CoreDNS)
	}
}

// TestFileNamesAreDistinct: every image has an archive of its own.
func TestFileNamesAreDistinct(t *testing.T) {
	seen := map[string]string{}
	for _, ref := range All(Sources{Vfleet: "x"}) {
		f := File(ref)
		if other, ok := seen[f]; ok {
			t.Fatalf("%s and %s share %s", ref, other, f)
		}
		seen[f] = ref
	}
}
