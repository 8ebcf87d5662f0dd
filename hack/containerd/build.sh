#!/usr/bin/env bash
# Builds the pinned containerd, its runc shim and ctr into
# bin/containerd/<containerd version>/, for the lab's real nodes.
#
# Idempotent, as ../tools/build.sh: a stamp holds every pin, and nothing is
# rebuilt while it matches. A cold build takes about 2.5 minutes on 2 cores.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"

version=$(go list -m -f '{{.Version}}' github.com/containerd/containerd/v2)
out="${CONTAINERD_BIN_DIR:-$root/bin/containerd/$version}"
stamp="$out/.pins"

pins=$(
	go version
	go list -m -f '{{.Path}} {{.Version}}{{with .Replace}} => {{.Path}} {{.Version}}{{end}}' all
	sha256sum build.sh
)

if [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$pins" ]]; then
	echo "containerd: up to date in ${out#$root/}"
	exit 0
fi

mkdir -p "$out"
rm -f "$stamp"
echo "containerd: building $version into ${out#$root/} (about 2.5 minutes the first time)"
pkg=github.com/containerd/containerd/v2
for name in containerd containerd-shim-runc-v2 ctr; do
	start=$SECONDS
	echo "containerd:   $name ..."
	# The storage drivers left out need C libraries this machine has not;
	# the lab uses overlayfs. The version is what `containerd --version`
	# and the CRI's version report.
	CGO_ENABLED=0 go build -trimpath -tags "no_btrfs no_devmapper no_zfs" \
		-ldflags="-s -w -X $pkg/version.Version=$version -X $pkg/version.Package=$pkg" \
		-o "$out/$name" "$pkg/cmd/$name"
	echo "containerd:   $name done in $((SECONDS - start))s"
done

printf '%s\n' "$pins" >"$stamp"
echo "containerd: ready in ${out#$root/}"
