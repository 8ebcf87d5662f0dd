// Command images builds the images the lab's real nodes run (pause,
// busybox, agnhost, CoreDNS, kubectl and vfleet, and the e2e suite's
// others) into image archives, from binaries built on this machine and
// Debian's packages. `make images` runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vfleet/vfleet/lab/images"
)

func main() {
	out := flag.String("out", "bin/images", "directory to write the image archives to")
	k8sBin := flag.String("k8s-bin", "", "directory of the Kubernetes binaries (bin/k8s/<version>), with pause and agnhost")
	busybox := flag.String("busybox", "/bin/busybox", "a statically linked busybox (Debian's busybox-static)")
	vfleet := flag.String("vfleet", "", "the vfleet binary; empty leaves the vfleet image out")
	coredns := flag.String("coredns", "", "the CoreDNS binary (bin/coredns/<version>/coredns)")
	k8sSource := flag.String("k8s-source", "", "the pinned Kubernetes sources (go list -m -f {{.Dir}} k8s.io/kubernetes in hack/tools), for porter's certificate and the kitten and nautilus images")
	nnp := flag.String("nnp", "", "the nonewprivs image's nnp binary (k8s.io/kubernetes/test/images/nonewprivs); empty leaves it out")
	nginx := flag.String("nginx", "", "Debian's nginx binary, from its package; empty leaves the nginx images out")
	flag.Parse()
	if *k8sBin == "" || *coredns == "" || *k8sSource == "" {
		fmt.Fprintln(os.Stderr, "images: -k8s-bin, -coredns and -k8s-source are required")
		os.Exit(2)
	}
	files, err := images.Build(*out, images.Sources{
		K8sBinDir: *k8sBin, KubernetesVersion: filepath.Base(*k8sBin), Busybox: *busybox, CoreDNS: *coredns, Vfleet: *vfleet,
		Nginx: *nginx, K8sSource: *k8sSource, Nnp: *nnp,
	})
	for _, f := range files {
		fmt.Println("images: wrote", f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}
