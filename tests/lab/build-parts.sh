#!/usr/bin/env bash
# Builds the Go tools of tests/lab/parts.sh from the Go module proxy into $LAB_CACHE, keyed by
# version (idempotent: a cached binary is reused): docker compose v2 (a Docker CLI plugin) and
# toxiproxy (the `faults` component). Usage: build-parts.sh [compose] [toxiproxy] [fetch]
# `fetch` only downloads the modules of both (network-bound: lab build runs it in the background
# while other components compile); a later build compiles from the prepared module.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"
export GOTOOLCHAIN=local CGO_ENABLED=0
export GOMODCACHE=${GOMODCACHE:-$LAB_CACHE/gomod} GOCACHE=${GOCACHE:-$LAB_CACHE/gocache}
export GOFLAGS="-modcacherw -buildvcs=false"
ts() { date +%s; }

# `go install github.com/docker/compose/v2/cmd@VERSION` is refused (compose's go.mod has exclude
# directives), so: an empty module that requires it, then go build; the version is set with -X
# (otherwise `docker compose version` says "dev").
fetch_compose() {  # the wrapper module, its go.sum and module downloads (kept when complete)
  local w=$LAB_CACHE/src/compose-$COMPOSE_VERSION
  [[ -s $w/fetched ]] && return
  rm -rf "$w"; mkdir -p "$w"; cd "$w"
  printf 'module local.invalid/compose-lab\n\ngo 1.26.0\n' > go.mod
  go get "github.com/docker/compose/v2/cmd@$COMPOSE_VERSION"
  go list -deps github.com/docker/compose/v2/cmd >/dev/null   # downloads what the build needs, compiles nothing
  date -u +%FT%TZ > fetched
}
build_compose() {
  local out=$LAB_CACHE/bin/compose-$COMPOSE_VERSION
  [[ -x $out/docker-compose ]] && return
  fetch_compose
  local w=$LAB_CACHE/src/compose-$COMPOSE_VERSION; mkdir -p "$out"; cd "$w"
  go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
    -o "$out/docker-compose.tmp" github.com/docker/compose/v2/cmd
  mv "$out/docker-compose.tmp" "$out/docker-compose"
  "$out/docker-compose" version
}

# toxiproxy-server and its CLI, through a wrapper module like the others (go get of both commands'
# packages: the module path alone leaves golang.org/x/term, needed by the CLI, out of go.sum)
fetch_toxiproxy() {
  local w=$LAB_CACHE/src/toxiproxy-$TOXIPROXY_VERSION
  [[ -s $w/fetched ]] && return
  rm -rf "$w"; mkdir -p "$w"; cd "$w"
  printf 'module local.invalid/toxiproxy-lab\n\ngo 1.26.0\n' > go.mod
  go get "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" "github.com/Shopify/toxiproxy/v2/cmd/cli@$TOXIPROXY_VERSION"
  go list -deps github.com/Shopify/toxiproxy/v2/cmd/server github.com/Shopify/toxiproxy/v2/cmd/cli >/dev/null
  date -u +%FT%TZ > fetched
}
build_toxiproxy() {
  local out=$LAB_CACHE/bin/toxiproxy-$TOXIPROXY_VERSION
  [[ -x $out/toxiproxy-server && -x $out/toxiproxy-cli ]] && return
  fetch_toxiproxy
  local w=$LAB_CACHE/src/toxiproxy-$TOXIPROXY_VERSION; mkdir -p "$out"; cd "$w"
  local ld="-s -w -X github.com/Shopify/toxiproxy/v2.Version=$TOXIPROXY_VERSION"
  go build -trimpath -ldflags "$ld" -o "$out/toxiproxy-server.tmp" github.com/Shopify/toxiproxy/v2/cmd/server
  go build -trimpath -ldflags "$ld" -o "$out/toxiproxy-cli.tmp" github.com/Shopify/toxiproxy/v2/cmd/cli
  mv "$out/toxiproxy-server.tmp" "$out/toxiproxy-server"; mv "$out/toxiproxy-cli.tmp" "$out/toxiproxy-cli"
  "$out/toxiproxy-server" -version
}

build_fetch() {  # downloads only, for the binaries not built yet
  [[ -x $LAB_CACHE/bin/compose-$COMPOSE_VERSION/docker-compose ]] || fetch_compose
  [[ -x $LAB_CACHE/bin/toxiproxy-$TOXIPROXY_VERSION/toxiproxy-server ]] || fetch_toxiproxy
}

what=${*:-compose toxiproxy}
for c in $what; do
  t0=$(ts); echo "== building $c ($(date -u +%FT%TZ))"
  "build_$c"
  echo "== built $c in $(( $(ts) - t0 ))s ($(date -u +%FT%TZ))"
done
