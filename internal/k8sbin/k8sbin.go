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

// Dir returns where the Kubernetes binaries are: $VFLEET_K8S_BIN_DIR, else
// bin/k8s/<version> beside the running executable (bin/vfleet), else the
// first bin/k8s/<version> found walking up from the working directory
// (tests run inside the source tree). If none exists it returns the path
// make binaries would create, so the error names it.
func Dir() string {
	if dir := os.Getenv(DirEnv); dir != "" {
		return dir
	}
	rel := filepath.Join("k8s", Version)
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
