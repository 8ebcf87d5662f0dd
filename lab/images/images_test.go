package images

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
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

// TestArchiveNamesTheImageAsPodsDo: containerd takes the image's name from
// the layout's annotation, which must be the reference as pods write it
// (docker.io, not the index.docker.io a library may spell).
func TestArchiveNamesTheImageAsPodsDo(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.tar")
	if err := write(file, Vfleet, spec{entries: []entry{{path: "hello", data: []byte("hi"), mode: 0o644}}}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no index.json in the archive: %v", err)
		}
		if h.Name != "index.json" {
			continue
		}
		var index struct {
			Manifests []struct {
				MediaType   string            `json:"mediaType"`
				Annotations map[string]string `json:"annotations"`
			} `json:"manifests"`
		}
		if err := json.NewDecoder(tr).Decode(&index); err != nil {
			t.Fatal(err)
		}
		if len(index.Manifests) != 1 || index.Manifests[0].Annotations["io.containerd.image.name"] != Vfleet ||
			index.Manifests[0].MediaType != "application/vnd.oci.image.manifest.v1+json" {
			t.Fatalf("index: %+v", index)
		}
		return
	}
}
