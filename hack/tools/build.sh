#!/usr/bin/env bash
# Builds the pinned Kubernetes binaries into bin/k8s/<kubernetes version>/
# (the node's kubelet and kube-proxy, pause, agnhost and kubectl among them).
# containerd has its own module and script: ../containerd/build.sh.
#
# Idempotent: the directory carries a stamp holding every pin: the resolved
# version of every module (replacements included), the Go toolchain, and
# this script and the etcd main, which decide how the binaries are built.
# When the stamp matches, nothing is rebuilt; editing a comment does not
# count as a change. A cold build takes about 5 minutes on 2 cores, so each step says
# what it is doing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"
# shellcheck source=../lib/k8s-version.sh
source "$root/hack/lib/k8s-version.sh"

k8s_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
out="${K8S_BIN_DIR:-$root/bin/k8s/$k8s_version}"
stamp="$out/.pins"

pins=$(
	go version
	go list -m -f '{{.Path}} {{.Version}}{{with .Replace}} => {{.Path}} {{.Version}}{{end}}' all
	sha256sum build.sh cmd/etcd/main.go ../lib/k8s-version.sh
)

if [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$pins" ]]; then
	echo "binaries: up to date in ${out#$root/}"
	exit 0
fi

mkdir -p "$out"
rm -f "$stamp"
echo "binaries: building Kubernetes $k8s_version, etcd and kwok into ${out#$root/}"
echo "binaries: the first build takes about 5 minutes on 2 cores; later builds reuse the Go cache"

version_ldflags=$(k8s_version_ldflags "$k8s_version")

build() {
	local name=$1 pkg=$2 start=$SECONDS
	echo "binaries:   $name ($pkg) ..."
	# -trimpath and no debug info keep ~380 MB of binaries smaller; CGO off
	# matches how Kubernetes releases its server binaries.
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w $version_ldflags" -o "$out/$name" "$pkg"
	echo "binaries:   $name done in $((SECONDS - start))s"
}

build etcd ./cmd/etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build kwok sigs.k8s.io/kwok/cmd/kwok
# The lab's real nodes, and the e2e tests' test server.
build kubelet k8s.io/kubernetes/cmd/kubelet
build kube-proxy k8s.io/kubernetes/cmd/kube-proxy
build agnhost k8s.io/kubernetes/test/images/agnhost
# What tenants and the e2e tests drive a cluster with (logs -f, cp,
# port-forward are kubectl's own).
build kubectl k8s.io/kubernetes/cmd/kubectl
# The pod sandbox's pause, from the same sources, as Kubernetes builds it:
# static, so that its image needs nothing else.
echo "binaries:   pause (build/pause/linux/pause.c) ..."
k8s_dir=$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)
gcc -Os -Wall -Werror -static -DVERSION="$k8s_version" -o "$out/pause" "$k8s_dir/build/pause/linux/pause.c"

printf '%s\n' "$pins" >"$stamp"
echo "binaries: ready in ${out#$root/}"
