package k8sbin

import (
	"os"
	"path/filepath"
)

// Version is the version of the Kubernetes binaries; it matches the
// k8s.io/kubernetes pin in hack/tools (a test keeps them in step).
const Version = "v1.36.3"

// DirEnv overrides where the Kubernetes binaries are looked for.
const DirEnv = "VFLEET_K8S_BIN_DIR"

// ContainerdVersion is the version of the lab nodes' containerd; it
// matches the pin in hack/containerd (a test keeps them in step).
const ContainerdVersion = "v2.4.2"

// CoreDNSVersion is the version of the tenants' and the lab's DNS server;
// it matches the pin in hack/coredns (a test keeps them in step).
const CoreDNSVersion = "v1.15.0"

// ContainerdDirEnv, CoreDNSDirEnv and ImagesDirEnv override where containerd's binaries
// and the lab's image archives are looked for.
const (
	ContainerdDirEnv = "VFLEET_CONTAINERD_BIN_DIR"
	CoreDNSDirEnv    = "VFLEET_COREDNS_BIN_DIR"
	ImagesDirEnv     = "VFLEET_IMAGES_DIR"
)

// Dir returns where the Kubernetes binaries are: $VFLEET_K8S_BIN_DIR, else
// bin/k8s/<version> beside the running executable (bin/vfleet), else the
// first bin/k8s/<version> found walking up from the working directory
// (tests run inside the source tree). If none exists it returns the path
// make binaries would create, so the error names it.
func Dir() string { return find(DirEnv, filepath.Join("k8s", Version)) }

// ContainerdDir returns where containerd, its shim and ctr are
// (bin/containerd/<version>), found as Dir finds the Kubernetes binaries.
func ContainerdDir() string {
	return find(ContainerdDirEnv, filepath.Join("containerd", ContainerdVersion))
}

// CoreDNS returns the path of the CoreDNS binary
// (bin/coredns/<version>/coredns), found as Dir finds the Kubernetes
// binaries.
func CoreDNS() string {
	return filepath.Join(find(CoreDNSDirEnv, filepath.Join("coredns", CoreDNSVersion)), "coredns")
}

// ImagesDir returns where `make images` writes the image archives
// (bin/images), found as Dir finds the Kubernetes binaries.
func ImagesDir() string { return find(ImagesDirEnv, "images") }

// find returns $env, else bin/rel beside the running executable, else the
// first bin/rel walking up from the working directory, else the path under
// the working directory that make would create.
func find(env, rel string) string {
	if dir := os.Getenv(env); dir != "" {
		return dir
	}
	if exe, err := os.Executable(); err == nil {
		if dir := filepath.Join(filepath.Dir(exe), rel); isDir(dir) {
			return dir
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return filepath.Join("bin", rel)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if cand := filepath.Join(dir, "bin", rel); isDir(cand) {
			return cand
		}
		if filepath.Dir(dir) == dir {
			return filepath.Join(wd, "bin", rel)
		}
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
