package images

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// unpack writes the layer of entries into a directory, as a runtime would
// unpack the image's root file system.
func unpack(t *testing.T, entries []entry) string {
	t.Helper()
	data, err := layer(entries)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return root
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(h.Mode).Perm())
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, b, os.FileMode(h.Mode).Perm())
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// inRoot runs argv with root as its root directory, as a container would,
// with PATH and a variable whose name is no shell identifier, as a spec
// passes one.
func inRoot(t *testing.T, root string, argv ...string) (string, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "data-1=value-1"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestDebianToolsRunAlone: the tools, with only what program carried for
// them (no file of the machine's), start and do their work: the loader
// finds every library it needs in the image.
func TestDebianToolsRunAlone(t *testing.T) {
	es, err := tools()
	if err != nil {
		t.Fatal(err)
	}
	applets, err := busyboxApplets("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := shell()
	if err != nil {
		t.Fatal(err)
	}
	// As agnhost has them: busybox, its shell, then the tools over its
	// applets.
	entries := append([]entry{{path: "bin/busybox", from: "/bin/busybox", mode: 0o755}}, applets...)
	entries = append(append(append(entries, sh...), es...), entry{path: "etc/hosts", data: []byte("127.0.0.1 localhost\n192.0.2.7 lab-peer\n"), mode: 0o644})
	root := unpack(t, entries)
	// A spec's `sh -c` finds the tools, not busybox's applets of their
	// names, and busybox's applets for the rest.
	out, err := inRoot(t, root, "/bin/sh", "-c", "command -v nc; command -v seq; nc -h 2>&1 | head -1; env")
	if lines := strings.Split(out, "\n"); err != nil || len(lines) < 3 || lines[0] != "/usr/bin/nc" ||
		!strings.HasSuffix(lines[1], "/seq") || !strings.HasPrefix(lines[2], "OpenBSD netcat") || !strings.Contains(out, "\ndata-1=value-1\n") {
		t.Errorf("sh -c: %v\n%s", err, out)
	}
	for _, argv := range [][]string{
		{"/bin/bash", "-c", "echo $((6*7))"},
		{"/usr/bin/getent", "hosts", "lab-peer"},
		{"/usr/bin/curl", "--version"},
		{"/usr/bin/dig", "-v"},
		{"/usr/bin/nc", "-h"},
	} {
		out, err := inRoot(t, root, argv...)
		// nc -h exits 1 after its usage, which it prints only if it loaded.
		if err != nil && (argv[1] != "-h" || !strings.Contains(out, "usage")) {
			t.Errorf("%v: %v\n%s", argv, err, out)
		}
		if argv[0] == "/bin/bash" && strings.TrimSpace(out) != "42" || argv[0] == "/usr/bin/getent" && !strings.Contains(out, "192.0.2.7") {
			t.Errorf("%v printed %q", argv, out)
		}
	}
}

// TestNginxConfiguration: Debian's nginx, as the image has it, accepts the
// image's configuration.
func TestNginxConfiguration(t *testing.T) {
	bin := "../../bin/debian/nginx/usr/sbin/nginx"
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s: %v (`make images` unpacks it)", bin, err)
	}
	s, err := nginx(bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := unpack(t, s.entries)
	// A container has a /dev, where nginx opens its log; the directory
	// stands in for it.
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dev", "stdout"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := inRoot(t, root, "/usr/sbin/nginx", "-t"); err != nil || !strings.Contains(out, "test is successful") {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

// TestLastOfEachPath: a later entry replaces an earlier one of its path,
// and the order is otherwise kept.
func TestLastOfEachPath(t *testing.T) {
	got := lastOfEachPath([]entry{{path: "a"}, {path: "usr/bin/nc", symlink: "/bin/busybox"}, {path: "b"}, {path: "usr/bin/nc", from: "/usr/bin/nc.openbsd"}})
	var paths []string
	for _, e := range got {
		paths = append(paths, e.path)
	}
	if strings.Join(paths, " ") != "a b usr/bin/nc" || got[2].from != "/usr/bin/nc.openbsd" {
		t.Fatalf("got %+v", got)
	}
}
