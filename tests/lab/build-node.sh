#!/usr/bin/env bash
# Builds the binaries of the lab's real Kubernetes node (component k8s_node, see node.sh) from
# the Go module proxy into the lab cache, keyed by version, each step cached on its own so that
# the control plane's binaries (build-go.sh) are never rebuilt for it:
#   kubelet    kubelet + kube-proxy from k8s.io/kubernetes@$K8S_VERSION (same wrapper module
#              recipe as build-go.sh's build_k8s, in its own directory; shares the Go caches)
#   containerd containerd + containerd-shim-runc-v2 + ctr from github.com/containerd/containerd/v2
#              (Kubernetes v1.36's kubelet refuses containerd 1.x; Debian only has 1.6.20)
#   pause      the pod sandbox process (tests/lab/pause/main.go), static
# Usage: build-node.sh [kubelet|containerd|pause]...   (default: all three); prints the bin dir.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"
NODE_BIN=$LAB_CACHE/bin/node-k8s-$K8S_VERSION-containerd-$CONTAINERD_VERSION
export GOTOOLCHAIN=local CGO_ENABLED=0
export GOMODCACHE=${GOMODCACHE:-$LAB_CACHE/gomod} GOCACHE=${GOCACHE:-$LAB_CACHE/gocache}
export GOFLAGS="-modcacherw -buildvcs=false"
json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); v=d
for k in sys.argv[1].split("."): v=(v or {}).get(k)
print(v or "")' "$1"; }
ts() { date +%s; }

build_kubelet() {
  [[ -x $NODE_BIN/kubelet && -x $NODE_BIN/kube-proxy ]] && return
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local staging=v0.${K8S_VERSION#v1.}
  local w=$LAB_CACHE/src/kubelet-$K8S_VERSION; rm -rf "$w"; mkdir -p "$w" "$NODE_BIN"; cd "$w"
  local kmod; kmod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | json_field GoMod)
  local goline; goline=$(awk '$1=="go"{print $2; exit}' "$kmod")
  printf 'module local.invalid/k8s-lab-node-bins\n\ngo %s\n' "$goline" > go.mod
  grep -E '^godebug ' "$kmod" >> go.mod || true
  local m
  for m in $(grep -oE 'k8s\.io/[A-Za-z0-9._-]+ => \./staging/' "$kmod" | awk '{print $1}' | sort -u); do
    go mod edit -replace="$m=$m@$staging"
  done
  go mod edit -require="k8s.io/kubernetes@$K8S_VERSION" \
    -tool=k8s.io/kubernetes/cmd/kubelet -tool=k8s.io/kubernetes/cmd/kube-proxy
  go mod tidy
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.gitCommit=0000000000000000000000000000000000000000"
    ld+=" -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  go build -trimpath -ldflags "$ld" -o "$NODE_BIN/" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
  "$NODE_BIN/kubelet" --version
}

build_containerd() {
  [[ -x $NODE_BIN/containerd && -x $NODE_BIN/containerd-shim-runc-v2 && -x $NODE_BIN/ctr ]] && return
  local mod=github.com/containerd/containerd/v2
  local w=$LAB_CACHE/src/containerd-$CONTAINERD_VERSION; rm -rf "$w"; mkdir -p "$w" "$NODE_BIN"; cd "$w"
  local cmod; cmod=$(go mod download -json "$mod@$CONTAINERD_VERSION" | json_field GoMod)
  printf 'module local.invalid/containerd-lab\n\ngo %s\n' "$(awk '$1=="go"{print $2; exit}' "$cmod")" > go.mod
  go mod edit -require="$mod@$CONTAINERD_VERSION" \
    -tool=$mod/cmd/containerd -tool=$mod/cmd/containerd-shim-runc-v2 -tool=$mod/cmd/ctr
  go mod tidy
  # static, without the cgo-only snapshotters (btrfs, devmapper, zfs): the node uses overlayfs
  local ld="-s -w -X $mod/version.Version=$CONTAINERD_VERSION -X $mod/version.Revision=lab"
  go build -trimpath -tags "no_btrfs no_devmapper no_zfs" -ldflags "$ld" -o "$NODE_BIN/" \
    $mod/cmd/containerd $mod/cmd/containerd-shim-runc-v2 $mod/cmd/ctr
  "$NODE_BIN/containerd" --version
}

build_pause() {
  local src=$here/pause/main.go sum; sum=$(sha256sum "$src" | cut -c1-16)
  [[ -x $NODE_BIN/pause && $(cat "$NODE_BIN/pause.src" 2>/dev/null) == "$sum" ]] && return
  local w=$LAB_CACHE/src/pause; rm -rf "$w"; mkdir -p "$w" "$NODE_BIN"; cd "$w"
  printf 'module local.invalid/pause\n\ngo 1.26.0\n' > go.mod
  cp "$src" main.go
  go build -trimpath -ldflags "-s -w" -o "$NODE_BIN/pause" .
  echo "$sum" > "$NODE_BIN/pause.src"
}

what=${*:-pause containerd kubelet}
for c in $what; do
  t0=$(ts); echo "== building node $c ($(date -u +%FT%TZ))"
  "build_$c"
  echo "== built node $c in $(( $(ts) - t0 ))s ($(date -u +%FT%TZ))"
done
echo "$NODE_BIN"
