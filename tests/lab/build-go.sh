#!/usr/bin/env bash
# Builds the lab's Go components (kube control plane, etcd, kwok, vcsim) from the Go module
# proxy into a cache outside the repo, keyed by version. Idempotent: cached binaries are reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"
BIN=$LAB_CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-govmomi-$GOVMOMI_VERSION
export GOTOOLCHAIN=local CGO_ENABLED=0
export GOMODCACHE=${GOMODCACHE:-$LAB_CACHE/gomod} GOCACHE=${GOCACHE:-$LAB_CACHE/gocache}
export GOFLAGS="-modcacherw -buildvcs=false"
json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); v=d
for k in sys.argv[1].split("."): v=(v or {}).get(k)
print(v or "")' "$1"; }
ts() { date +%s; }

build_k8s() {
  [[ -x $BIN/kube-apiserver && -x $BIN/kube-controller-manager && -x $BIN/kube-scheduler ]] && return
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local staging=v0.${K8S_VERSION#v1.}
  local w=$LAB_CACHE/src/k8s-$K8S_VERSION; rm -rf "$w"; mkdir -p "$w" "$BIN"; cd "$w"
  local kmod; kmod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | json_field GoMod)
  local goline; goline=$(awk '$1=="go"{print $2; exit}' "$kmod")
  printf 'module local.invalid/k8s-lab-bins\n\ngo %s\n' "$goline" > go.mod
  grep -E '^godebug ' "$kmod" >> go.mod || true
  local m
  for m in $(grep -oE 'k8s\.io/[A-Za-z0-9._-]+ => \./staging/' "$kmod" | awk '{print $1}' | sort -u); do
    go mod edit -replace="$m=$m@$staging"
  done
  go mod edit -require="k8s.io/kubernetes@$K8S_VERSION" \
    -tool=k8s.io/kubernetes/cmd/kube-apiserver \
    -tool=k8s.io/kubernetes/cmd/kube-controller-manager \
    -tool=k8s.io/kubernetes/cmd/kube-scheduler
  go mod tidy
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.gitCommit=0000000000000000000000000000000000000000"
    ld+=" -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  go build -trimpath -ldflags "$ld" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler
  "$BIN/kube-apiserver" --version
}

build_etcd() {
  [[ -x $BIN/etcd ]] && return
  local w=$LAB_CACHE/src/etcd-$ETCD_VERSION; rm -rf "$w"; mkdir -p "$w" "$BIN"; cd "$w"
  printf 'module local.invalid/etcd-bin\n\ngo 1.26.0\n' > go.mod
  go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION" -tool=go.etcd.io/etcd/server/v3
  go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  "$BIN/etcd" --version
}

build_kwok() {
  [[ -x $BIN/kwok && -s $BIN/kwok-stages.yaml && -s $BIN/kwok-exec-crd.yaml ]] && return
  mkdir -p "$BIN"
  GOBIN=$BIN go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  local dir; dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | json_field Dir)
  local s=$dir/kustomize/stage f
  { for f in node/fast/node-initialize.yaml \
             node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
             pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      echo '---'; cat "$s/$f"; echo
    done; } > "$BIN/kwok-stages.yaml.tmp"
  mv "$BIN/kwok-stages.yaml.tmp" "$BIN/kwok-stages.yaml"
  # the Exec CRD: kwok runs `exec` requests for pods named by an Exec object as local commands
  cp "$dir/kustomize/crd/bases/kwok.x-k8s.io_execs.yaml" "$BIN/kwok-exec-crd.yaml"
}

build_vcsim() {
  # upstream vcsim/ is a nested module without tags (the Go proxy answers 404/403 for it), so the
  # lab builds its own small main (tests/lab/vcsim/main.go) against the tagged govmomi module.
  local src=$here/vcsim/main.go sum; sum=$(sha256sum "$src" | cut -c1-16)
  [[ -x $BIN/vcsim && $(cat "$BIN/vcsim.src" 2>/dev/null) == "$sum" ]] && return
  local w=$LAB_CACHE/src/vcsim-$GOVMOMI_VERSION; rm -rf "$w"; mkdir -p "$w" "$BIN"; cd "$w"
  printf 'module local.invalid/vcsim-lab\n\ngo 1.26.0\n' > go.mod
  cp "$src" main.go
  go mod edit -require="github.com/vmware/govmomi@$GOVMOMI_VERSION"
  go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$BIN/vcsim" .
  echo "$sum" > "$BIN/vcsim.src"
}

# front proxy for zero-downtime docker updates: kamal-proxy, static. The Go proxy refuses the
# module's version list (403 "This module version is not available") and so `go install
# ...@version` fails while loading deprecation info; explicit tags such as v0.9.2 are served, so
# it is built through a wrapper module (go get -tool), like the Kubernetes binaries.
build_proxy() {
  local pbin=$LAB_CACHE/bin/kamal-proxy-$KAMAL_PROXY_VERSION
  [[ -x $pbin/kamal-proxy ]] && return
  local w=$LAB_CACHE/src/kamal-proxy-$KAMAL_PROXY_VERSION; rm -rf "$w"; mkdir -p "$w" "$pbin"; cd "$w"
  printf 'module local.invalid/kamal-proxy-lab\n\ngo 1.26.0\n' > go.mod
  go mod edit -require="github.com/basecamp/kamal-proxy@$KAMAL_PROXY_VERSION" \
    -tool=github.com/basecamp/kamal-proxy/cmd/kamal-proxy
  go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$pbin/kamal-proxy" github.com/basecamp/kamal-proxy/cmd/kamal-proxy
}

what=${*:-etcd kwok vcsim proxy k8s}
for c in $what; do
  t0=$(ts); echo "== building $c ($(date -u +%FT%TZ))"
  "build_$c"
  echo "== built $c in $(( $(ts) - t0 ))s ($(date -u +%FT%TZ))"
done
echo "$BIN"
