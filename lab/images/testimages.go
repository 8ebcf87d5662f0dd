package images

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// The images of the Kubernetes e2e suite beyond agnhost and busybox, which
// `make conformance` runs, by the references its specs name them with.
const (
	// AgnhostPrev is the suite's "previous" agnhost, the image Deployment,
	// DaemonSet, StatefulSet and kubectl specs start from and roll away
	// from. Version 2.55 is in no Kubernetes release the module proxy
	// serves (v1.33 has 2.53, v1.34.0-alpha.1 already 2.56), so this image
	// carries the pinned agnhost under 2.55's name: the specs need another
	// tag of a working agnhost, and use no subcommand 2.55 has that the
	// pinned one lacks.
	AgnhostPrev = "registry.k8s.io/e2e-test-images/agnhost:2.55"
	// GlibcDNSTesting is the DNS specs' second prober: dig and getent of a
	// glibc system, with CoreDNS at /coredns.
	GlibcDNSTesting = "registry.k8s.io/e2e-test-images/glibc-dns-testing:2.0.0"
	// Kitten and Nautilus are agnhost serving a picture and its data.json
	// (kubectl's Update Demo rolls from one to the other), from the
	// pinned Kubernetes sources' test/images.
	Kitten   = "registry.k8s.io/e2e-test-images/kitten:1.8"
	Nautilus = "registry.k8s.io/e2e-test-images/nautilus:1.8"
	// Nonewprivs prints its effective uid from a setuid-root binary: the
	// security-context specs see whether no_new_privs kept it from rising.
	Nonewprivs = "registry.k8s.io/e2e-test-images/nonewprivs:1.4"
	// Nginx and NginxNew are a web server on port 80, serving a page at /:
	// Debian's nginx, with busybox.
	Nginx    = "registry.k8s.io/e2e-test-images/nginx:1.15-4"
	NginxNew = "registry.k8s.io/e2e-test-images/nginx:1.27-0"
)

// debianTools are the programs the e2e images run in their pods, from
// Debian's packages on this machine (`make node-packages` installs them),
// by where the image has them: the same names upstream's images have.
var debianTools = []struct{ dest, from, pkg string }{
	{"/usr/bin/curl", "/usr/bin/curl", "curl"},
	{"/usr/bin/dig", "/usr/bin/dig", "bind9-dnsutils"},
	{"/usr/bin/nslookup", "/usr/bin/nslookup", "bind9-dnsutils"},
	{"/usr/bin/host", "/usr/bin/host", "bind9-host"},
	// The specs run `nc -v -t -w 2 HOST PORT`, which busybox's nc lacks.
	{"/usr/bin/nc", "/usr/bin/nc.openbsd", "netcat-openbsd"},
	{"/usr/bin/getent", "/usr/bin/getent", "libc-bin"},
}

// shell is bash, as /bin/bash and /bin/sh. Debian's busybox sh will not
// do for /bin/sh: it runs its own applet for a command of that name before
// looking at PATH (Debian builds it standalone), so `sh -c "nc ..."` would
// never reach the tools; and it drops environment variables whose names
// are no shell identifiers ("data-1"), which a spec passes to `sh -c env`.
func shell() ([]entry, error) {
	if _, err := os.Stat("/usr/bin/bash"); errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("/usr/bin/bash is missing: install Debian's bash (`make node-packages`)")
	}
	bash, err := program("/bin/bash", "/usr/bin/bash")
	if err != nil {
		return nil, err
	}
	return append(bash, entry{path: "bin/sh", symlink: "bash"}), nil
}

// tools is the entries of debianTools, with the files a glibc program
// reads: /etc/nsswitch.conf, so that /etc/hosts is asked before DNS.
func tools() ([]entry, error) {
	out := []entry{{path: "etc/nsswitch.conf", data: []byte("passwd: files\ngroup: files\nhosts: files dns\n"), mode: 0o644}}
	for _, t := range debianTools {
		if _, err := os.Stat(t.from); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is missing: install Debian's %s (`make node-packages`)", t.from, t.pkg)
		}
		es, err := program(t.dest, t.from)
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	return out, nil
}

// agnhost is an agnhost image of the binary at bin, laid out as upstream's:
// /agnhost (and /agnhost-2, a link to it), /uploads, the user and group
// its specs look for, porter's TLS certificate and key from the Kubernetes
// sources at k8sSource, busybox and the Debian tools.
func agnhost(bin, k8sSource string, busybox, tools []entry) spec {
	porter := filepath.Join(k8sSource, "test", "images", "agnhost", "porter")
	entries := []entry{
		{path: "localhost.crt", from: filepath.Join(porter, "localhost.crt"), mode: 0o644},
		{path: "localhost.key", from: filepath.Join(porter, "localhost.key"), mode: 0o644},
		{path: "agnhost", from: bin, mode: 0o755},
		{path: "agnhost-2", symlink: "agnhost"},
		{path: "uploads", dir: true, mode: 0o755},
		{path: "etc/passwd", data: []byte("root:x:0:0:root:/root:/bin/sh\nuser-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"), mode: 0o644},
		{path: "etc/group", data: []byte("root:x:0:\nuser-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\nnogroup:x:65534:\n"), mode: 0o644},
	}
	entries = append(append(entries, busybox...), tools...)
	return spec{entries: entries, entrypoint: []string{"/agnhost"}, cmd: []string{"pause"}}
}

// picture is agnhost's test-webserver serving name.jpg and data.json from
// the Kubernetes sources, as upstream's kitten and nautilus images do.
func picture(agnhostImage spec, k8sSource, name string) spec {
	html := filepath.Join(k8sSource, "test", "images", name, "html")
	entries := append(slices.Clone(agnhostImage.entries),
		entry{path: name + ".jpg", from: filepath.Join(html, name+".jpg"), mode: 0o644},
		entry{path: "data.json", from: filepath.Join(html, "data.json"), mode: 0o644})
	return spec{entries: entries, entrypoint: agnhostImage.entrypoint, cmd: []string{"test-webserver"}}
}

// glibcDNSTesting is the DNS specs' glibc prober.
func glibcDNSTesting(coredns string, busybox, tools []entry) spec {
	entries := append([]entry{{path: "coredns", from: coredns, mode: 0o755}}, busybox...)
	return spec{entries: append(entries, tools...), cmd: []string{"/bin/bash"}}
}

// nginxConf serves /usr/share/nginx/html on port 80 in the foreground,
// logging to the container's output, as the official image does.
const nginxConf = `user nginx nginx;
worker_processes 1;
error_log stderr notice;
pid /run/nginx.pid;
daemon off;
events {
    worker_connections 1024;
}
http {
    types {
        text/html html htm;
        text/plain txt;
        application/json json;
    }
    default_type application/octet-stream;
    access_log /dev/stdout;
    sendfile on;
    server {
        listen 80;
        server_name localhost;
        location / {
            root /usr/share/nginx/html;
            index index.html;
        }
    }
}
`

// nginx is an nginx image of Debian's binary at bin.
func nginx(bin string, busybox []entry) (spec, error) {
	entries, err := program("/usr/sbin/nginx", bin)
	if err != nil {
		return spec{}, err
	}
	entries = append(entries,
		entry{path: "etc/nginx/nginx.conf", data: []byte(nginxConf), mode: 0o644},
		entry{path: "usr/share/nginx/html/index.html", data: []byte("<!DOCTYPE html>\n<html><body><h1>nginx</h1><p>Served by the vfleet lab's nginx image.</p></body></html>\n"), mode: 0o644},
		entry{path: "etc/passwd", data: []byte("root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin\n"), mode: 0o644},
		entry{path: "etc/group", data: []byte("root:x:0:\nnginx:x:101:nginx\n"), mode: 0o644},
		entry{path: "var/lib/nginx", dir: true, mode: 0o755},
		entry{path: "var/log/nginx", dir: true, mode: 0o755},
		entry{path: "run", dir: true, mode: 0o755},
	)
	return spec{entries: append(entries, busybox...), cmd: []string{"/usr/sbin/nginx"}}, nil
}

// nonewprivs is the setuid nnp binary, built from the Kubernetes sources'
// test/images/nonewprivs, with busybox.
func nonewprivs(nnp string, busybox []entry) spec {
	entries := append([]entry{{path: "usr/local/bin/nnp", from: nnp, mode: 0o4755}}, busybox...)
	return spec{entries: entries, cmd: []string{"nnp"}}
}
