#!/usr/bin/env bash
# Builds the upstream Kubernetes e2e test binary, e2e.test, and the ginkgo
# CLI that runs it in parallel, from the sources
# pinned in hack/tools (go test -c k8s.io/kubernetes/test/e2e), into
# bin/k8s/<kubernetes version>/, beside the binaries it tests.
#
# Idempotent, as hack/tools/build.sh is: a stamp holds every pin, and a
# build whose pins match is skipped. A cold build takes a long while on 2
# cores (the e2e suite imports most of Kubernetes), so it says what it does.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root/hack/tools"
# shellcheck source=../lib/k8s-version.sh
source "$root/hack/lib/k8s-version.sh"

k8s_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
out="${K8S_BIN_DIR:-$root/bin/k8s/$k8s_version}"
stamp="$out/.e2e-pins"

pins=$(
	go version
	go list -m -f '{{.Path}} {{.Version}}{{with .Replace}} => {{.Path}} {{.Version}}{{end}}' all
	sha256sum "$here/build.sh" "$root/hack/lib/k8s-version.sh"
)

if [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$pins" ]] && [[ -x "$out/e2e.test" ]] && [[ -x "$out/ginkgo" ]]; then
	echo "conformance: e2e.test up to date in ${out#$root/}"
	exit 0
fi

mkdir -p "$out"
rm -f "$stamp"
echo "conformance: building e2e.test of Kubernetes $k8s_version into ${out#$root/}"
echo "conformance: the first build takes 15 minutes or more on 2 cores; later builds reuse the Go cache"

version_ldflags=$(k8s_version_ldflags "$k8s_version")
start=$SECONDS
CGO_ENABLED=0 go test -c -trimpath -ldflags="-s -w $version_ldflags" -o "$out/e2e.test" k8s.io/kubernetes/test/e2e
# The ginkgo CLI of the same version runs it in parallel processes.
CGO_ENABLED=0 go build -trimpath -o "$out/ginkgo" github.com/onsi/ginkgo/v2/ginkgo
printf '%s\n' "$pins" >"$stamp"
echo "conformance: e2e.test ready in $((SECONDS - start))s"
