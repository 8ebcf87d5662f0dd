// Package images builds the container images the lab's real nodes run,
// from binaries built on this machine, into OCI image layouts in tars that
// containerd imports: no registry, no Docker. The names are the ones
// Kubernetes and its e2e tests ask for, so that a kubelet never pulls
// (their pull policy is IfNotPresent and they are already there).
package images

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/vfleet/vfleet/internal/k8sbin"
)

// The images, by the references pods name them with.
const (
	// Pause is the sandbox image containerd 2.4 and kubelet 1.36 use.
	Pause = "registry.k8s.io/pause:3.10.2"
	// BusyBox is the e2e tests' busybox: Debian's static busybox, with
	// bash as /bin/sh (see shell).
	BusyBox = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1"
	// Agnhost is the e2e tests' test server, built from the pinned
	// Kubernetes sources, with busybox beside it for `sh -c` and the
	// Debian tools its specs run (curl, dig, nc, getent, bash).
	Agnhost = "registry.k8s.io/e2e-test-images/agnhost:2.63.0"
	// CoreDNS is the host clusters' DNS, built from its pinned module.
	CoreDNS = "registry.k8s.io/coredns/coredns:v1.15.0"
	// Kubectl is kubectl of the pinned Kubernetes, as Kubernetes ships it
	// in an image, with busybox beside it: what a pod's job or a test
	// drives its own cluster's API with from inside.
	Kubectl = "registry.k8s.io/kubectl:" + k8sbin.Version
	// Vfleet is what the agent's kubernetes runtime runs control planes
	// from: the vfleet binary and the apiserver and controller-manager.
	Vfleet = "docker.io/vfleet/vfleet:dev"
)

// Sources says where the binaries the images carry are on this machine.
type Sources struct {
	// K8sBinDir holds pause, agnhost, kubectl, kube-apiserver and
	// kube-controller-manager (bin/k8s/<version>).
	K8sBinDir string
	// KubernetesVersion names K8sBinDir's version inside the vfleet image
	// (/opt/vfleet/k8s/<version>), as the agent's --bin-root expects.
	KubernetesVersion string
	// Busybox is a statically linked busybox (Debian's busybox-static).
	Busybox string
	// CoreDNS is the CoreDNS binary.
	CoreDNS string
	// Vfleet is the vfleet binary; empty leaves the vfleet image out.
	Vfleet string
	// K8sSource is the pinned Kubernetes sources (the module's directory),
	// whose test/images hold porter's certificate and the kitten and
	// nautilus pictures.
	K8sSource string
	// Nnp is the nonewprivs image's program, built from the Kubernetes
	// sources' test/images/nonewprivs; empty leaves that image out.
	Nnp string
	// Nginx is Debian's nginx binary, taken from its package without
	// installing it (which would start it); empty leaves the nginx images
	// out.
	Nginx string
}

// File is the archive of an image, as Build writes it into its directory.
func File(ref string) string {
	base := path.Base(ref)
	return strings.NewReplacer(":", "_").Replace(base) + ".tar"
}

// All is every image Build makes from src.
func All(src Sources) []string {
	refs := []string{Pause, BusyBox, Agnhost, AgnhostPrev, CoreDNS, Kubectl, GlibcDNSTesting, Kitten, Nautilus}
	if src.Vfleet != "" {
		refs = append(refs, Vfleet)
	}
	if src.Nnp != "" {
		refs = append(refs, Nonewprivs)
	}
	if src.Nginx != "" {
		refs = append(refs, Nginx, NginxNew)
	}
	return refs
}

// Build writes each image's archive into dir and returns their paths.
func Build(dir string, src Sources) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	applets, err := busyboxApplets(src.Busybox)
	if err != nil {
		return nil, err
	}
	// These binaries go alone, with no C library for them to load; the
	// Debian programs some images carry go with theirs.
	for _, bin := range []string{src.Busybox, filepath.Join(src.K8sBinDir, "pause"), filepath.Join(src.K8sBinDir, "agnhost"), filepath.Join(src.K8sBinDir, "kubectl"), src.CoreDNS, src.Vfleet, src.Nnp} {
		if bin == "" {
			continue
		}
		if err := static(bin); err != nil {
			return nil, err
		}
	}
	sh, err := shell()
	if err != nil {
		return nil, err
	}
	busybox := append([]entry{{path: "bin/busybox", from: src.Busybox, mode: 0o755}, {path: "tmp", dir: true, mode: 0o1777}}, applets...)
	// Alpine's busybox, which upstream's images have, has sysctl in /bin,
	// where a spec runs it.
	busybox = append(busybox, entry{path: "bin/sysctl", symlink: "/bin/busybox"})
	busybox = append(busybox, sh...)
	tools, err := tools()
	if err != nil {
		return nil, err
	}
	contents := map[string]spec{
		Pause: {entries: []entry{{path: "pause", from: filepath.Join(src.K8sBinDir, "pause"), mode: 0o755}},
			entrypoint: []string{"/pause"}, user: "65535:65535"},
		BusyBox:         {entries: busybox, cmd: []string{"sh"}},
		Agnhost:         agnhost(filepath.Join(src.K8sBinDir, "agnhost"), src.K8sSource, busybox, tools),
		GlibcDNSTesting: glibcDNSTesting(src.CoreDNS, busybox, tools),
		CoreDNS: {entries: []entry{{path: "coredns", from: src.CoreDNS, mode: 0o755}, {path: "tmp", dir: true, mode: 0o1777}},
			entrypoint: []string{"/coredns"}},
		Kubectl: {entries: append([]entry{{path: "bin/kubectl", from: filepath.Join(src.K8sBinDir, "kubectl"), mode: 0o755}}, busybox...),
			entrypoint: []string{"/bin/kubectl"}},
		Vfleet: {entries: []entry{
			{path: "usr/local/bin/vfleet", from: src.Vfleet, mode: 0o755},
			// Each vcluster's DNS (the agent's --tenant-dns default).
			{path: "usr/local/bin/coredns", from: src.CoreDNS, mode: 0o755},
			{path: "opt/vfleet/k8s/" + src.KubernetesVersion + "/kube-apiserver", from: filepath.Join(src.K8sBinDir, "kube-apiserver"), mode: 0o755},
			{path: "opt/vfleet/k8s/" + src.KubernetesVersion + "/kube-controller-manager", from: filepath.Join(src.K8sBinDir, "kube-controller-manager"), mode: 0o755},
			{path: "tmp", dir: true, mode: 0o1777},
			{path: "etc/passwd", data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"), mode: 0o644},
			{path: "etc/group", data: []byte("root:x:0:\nnonroot:x:65532:\n"), mode: 0o644},
		}, entrypoint: []string{"/usr/local/bin/vfleet"}, user: "65532:65532"},
	}
	// The same image under the suite's "previous" tag (see AgnhostPrev).
	contents[AgnhostPrev] = contents[Agnhost]
	contents[Nonewprivs] = nonewprivs(src.Nnp, busybox)
	contents[Kitten] = picture(contents[Agnhost], src.K8sSource, "kitten")
	contents[Nautilus] = picture(contents[Agnhost], src.K8sSource, "nautilus")
	if src.Nginx != "" {
		n, err := nginx(src.Nginx, busybox)
		if err != nil {
			return nil, err
		}
		contents[Nginx], contents[NginxNew] = n, n
	}
	var out []string
	for _, ref := range All(src) {
		file := filepath.Join(dir, File(ref))
		if err := write(file, ref, contents[ref]); err != nil {
			return out, fmt.Errorf("image %s: %w", ref, err)
		}
		out = append(out, file)
	}
	return out, nil
}

// spec is what one image holds and runs.
type spec struct {
	entries    []entry
	entrypoint []string
	cmd        []string
	user       string
}

// entry is one path in an image's single layer: a file copied from the
// machine (from) or given (data), a directory, or a symlink.
type entry struct {
	path    string
	from    string
	data    []byte
	dir     bool
	symlink string
	mode    int64
}

// busyboxApplets are symlinks to /bin/busybox for every applet it has,
// where busybox --install would put them.
func busyboxApplets(busybox string) ([]entry, error) {
	out, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list-full: %w (is busybox-static installed?)", busybox, err)
	}
	var entries []entry
	for _, p := range strings.Fields(string(out)) {
		if p == "bin/busybox" || p == "" {
			continue
		}
		entries = append(entries, entry{path: p, symlink: "/bin/busybox"})
	}
	return entries, nil
}

// lastOfEachPath keeps, for each path, the last entry that has it, in the
// order of the entries kept.
func lastOfEachPath(entries []entry) []entry {
	last := map[string]int{}
	for i, e := range entries {
		last[e.path] = i
	}
	var out []entry
	for i, e := range entries {
		if last[e.path] == i {
			out = append(out, e)
		}
	}
	return out
}

// epoch dates every file, so that the same inputs make the same layer.
var epoch = time.Unix(0, 0)

// layer is the tar of entries, with each parent directory before what it
// holds. Where two entries have one path the later wins: a Debian tool
// over the busybox applet of its name, one copy of a library two tools
// need.
func layer(entries []entry) ([]byte, error) {
	entries = lastOfEachPath(entries)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	mkdirs := func(p string) error {
		var parents []string
		for d := path.Dir(p); d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			parents = append(parents, d)
		}
		sort.Strings(parents)
		for _, d := range parents {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, e := range entries {
		if err := mkdirs(e.path); err != nil {
			return nil, err
		}
		switch {
		case e.dir:
			dirs[e.path] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: e.path + "/", Mode: e.mode, ModTime: epoch}); err != nil {
				return nil, err
			}
		case e.symlink != "":
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: e.path, Linkname: e.symlink, Mode: 0o777, ModTime: epoch}); err != nil {
				return nil, err
			}
		default:
			data := e.data
			if e.from != "" {
				var err error
				if data, err = os.ReadFile(e.from); errors.Is(err, fs.ErrNotExist) {
					return nil, fmt.Errorf("%s is missing: run `make binaries`", e.from)
				} else if err != nil {
					return nil, err
				}
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.path, Mode: e.mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
				return nil, err
			}
			if _, err := tw.Write(data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// write builds the image ref from s and writes it as an OCI image layout
// in a tar (what `ctr images import` reads), naming it ref in the
// annotation containerd takes the image's name from.
func write(file, ref string, s spec) error {
	data, err := layer(s.entries)
	if err != nil {
		return err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, l)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Entrypoint, cfg.Config.Cmd, cfg.Config.User = s.entrypoint, s.cmd, s.user
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(filepath.Dir(file), ".oci-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag.TagStr(),
		// As written: go-containerregistry would spell docker.io
		// index.docker.io, a name no kubelet asks for.
		"io.containerd.image.name": ref,
	})); err != nil {
		return err
	}
	tmp := file + ".new"
	if err := tarDir(dir, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// tarDir writes the files under dir, by their paths below it and in a
// fixed order, into a tar at file.
func tarDir(dir, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o755, ModTime: epoch})
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// static checks that the ELF binary at path loads no shared library, which
// the images do not have.
func static(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w (run `make binaries build`)", path, err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked, and the images have no C library: build it with CGO_ENABLED=0 (`make build` does)", path)
		}
	}
	return nil
}
