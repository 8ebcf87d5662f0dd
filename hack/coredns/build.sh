#!/usr/bin/env bash
# Builds the pinned CoreDNS into bin/coredns/<version>/, for the image the
# lab's host clusters run their DNS from.
#
# Idempotent, as ../tools/build.sh: a stamp holds every pin, and nothing is
# rebuilt while it matches. A cold build takes about 1.5 minutes on 2 cores.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"

version=$(go list -m -f '{{.Version}}' github.com/coredns/coredns)
out="${COREDNS_BIN_DIR:-$root/bin/coredns/$version}"
stamp="$out/.pins"

pins=$(
	go version
	go list -m -f '{{.Path}} {{.Version}}{{with .Replace}} => {{.Path}} {{.Version}}{{end}}' all
	sha256sum build.sh
)

if [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$pins" ]]; then
	echo "coredns: up to date in ${out#$root/}"
	exit 0
fi

mkdir -p "$out"
rm -f "$stamp"
start=$SECONDS
echo "coredns: building $version into ${out#$root/} (about 1.5 minutes the first time)"
# Static: its image holds nothing else.
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$out/coredns" github.com/coredns/coredns
echo "coredns: done in $((SECONDS - start))s"

printf '%s\n' "$pins" >"$stamp"
echo "coredns: ready in ${out#$root/}"
