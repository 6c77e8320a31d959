#!/usr/bin/env bash
# Root filesystems of the lab's real database images (lab/postgres:15, lab/redis:7, lab/sshd:1):
# a Debian bookworm minbase made by debootstrap from the mirror this machine's apt uses, the
# image's packages installed inside it with --no-install-recommends, then trimmed (docs, man pages,
# locales, apt lists and caches, PostgreSQL's LLVM JIT). Output: a tar under $LAB_CACHE/rootfs,
# keyed by the hash of this file (the shared minbase: by the hash of its own functions), reused
# while it is unchanged.
# Usage: build-rootfs.sh NAME...   (NAME: postgres redis sshd); prints each tarball's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"
SUITE=bookworm
RECIPE=$(sha256sum "$here/build-rootfs.sh" | cut -c1-12)
OUT=$LAB_CACHE/rootfs
ts() { date +%s; }

packages_of() {
  case $1 in
    postgres) echo postgresql-15 ;;
    redis) echo redis-server ;;
    sshd) echo openssh-server openssh-sftp-server ;;
    *) echo "unknown rootfs '$1' (known: postgres redis sshd)" >&2; return 2 ;;
  esac
}

# the mirror apt is configured with (no host written here): the repository serving SUITE/main
mirror() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' 2>/dev/null |
    awk -v s="$SUITE" '$2 == s && $3 == "main" {print $1; exit}'
}
# every bookworm-family repository of apt's sources (updates, security), as sources.list lines
sources_list() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' 2>/dev/null |
    awk -v s="$SUITE" '($2 == s || index($2, s "-") == 1) && $3 == "main" {print "deb " $1 " " $2 " main"}' | sort -u
}

in_root() { chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "${@:2}"; }

base_tar() {  # the debootstrap'ed minbase, shared by every image
  local tar=$OUT/base-$SUITE-$BASE_RECIPE.tar
  if [[ ! -s $tar ]]; then
    command -v debootstrap >/dev/null || { echo "debootstrap is not installed (lab build installs it)" >&2; return 1; }
    local m; m=$(mirror)
    [[ -n $m ]] || { echo "no '$SUITE main' repository in apt's sources (apt-get indextargets)" >&2; return 1; }
    local w=$OUT/work-base; rm -rf "$w"; mkdir -p "$w"
    local t0; t0=$(ts)
    debootstrap --variant=minbase "$SUITE" "$w" "$m" >"$OUT/debootstrap.log" 2>&1 ||
      { tail -n 30 "$OUT/debootstrap.log" >&2; return 1; }
    echo "== debootstrap $SUITE from $m in $(( $(ts) - t0 ))s" >&2
    sources_list >"$w/etc/apt/sources.list"
    # never install docs, man pages or translations into the images
    cat >"$w/etc/dpkg/dpkg.cfg.d/01-lab-trim" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
EOF
    printf '#!/bin/sh\nexit 101\n' >"$w/usr/sbin/policy-rc.d"; chmod 755 "$w/usr/sbin/policy-rc.d"   # no service starts in the chroot
    rm -rf "$w/var/cache/apt/archives/"*.deb
    tar -C "$w" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    rm -rf "$w"
    find "$OUT" -maxdepth 1 -name "base-$SUITE-*.tar" ! -name "${tar##*/}" -delete   # older recipes
  fi
  echo "$tar"
}

trim() {  # what no container of these images reads
  local r=$1
  rm -rf "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/lintian \
    "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/* "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old \
    "$r"/var/log/*.log "$r"/var/log/apt/* "$r"/tmp/* "$r"/root/.cache
  find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  # PostgreSQL's JIT is an optional plugin (llvmjit.so, loaded only when present): without it
  # and LLVM with its solver libz3 (~130 MB) the server runs with jit unavailable
  rm -rf "$r"/usr/lib/postgresql/*/lib/llvmjit* "$r"/usr/lib/postgresql/*/lib/bitcode \
    "$r"/usr/lib/x86_64-linux-gnu/libLLVM* "$r"/usr/lib/x86_64-linux-gnu/libz3.so*
  # locale sources (only localedef reads them; C.UTF-8 is built into glibc)
  rm -rf "$r"/usr/share/i18n
  find "$r" -xdev -name '__pycache__' -prune -exec rm -rf {} + 2>/dev/null || true
}

image_tar() {  # image_tar NAME: base + NAME's packages, trimmed
  local name=$1 pkgs; pkgs=$(packages_of "$name")
  local tar=$OUT/$name-$SUITE-$RECIPE.tar
  if [[ ! -s $tar ]]; then
    local base; base=$(base_tar)
    local w=$OUT/work-$name; rm -rf "$w"; mkdir -p "$w"
    tar -C "$w" -xf "$base"
    cp /etc/resolv.conf "$w/etc/resolv.conf"
    # Debian's postgresql-common would create (39 MB) and start a "main" cluster: the entrypoint makes its own
    mkdir -p "$w/etc/postgresql-common/createcluster.d"
    echo 'create_main_cluster = false' >"$w/etc/postgresql-common/createcluster.d/lab.conf"
    mount -t proc proc "$w/proc"
    local t0 rc=0; t0=$(ts)
    {
      in_root "$w" apt-get update -qq &&
      # shellcheck disable=SC2086
      in_root "$w" apt-get install -y -qq --no-install-recommends $pkgs &&
      in_root "$w" apt-get clean
    } >"$OUT/$name-install.log" 2>&1 || rc=$?
    umount "$w/proc" || umount -l "$w/proc"
    if (( rc )); then tail -n 30 "$OUT/$name-install.log" >&2; return "$rc"; fi
    echo "== $name: apt-get install $pkgs in $(( $(ts) - t0 ))s" >&2
    rm -f "$w/usr/sbin/policy-rc.d"
    : >"$w/etc/resolv.conf"   # docker writes its own at run time
    trim "$w"
    # sshd: no host keys baked in (each container makes its own at first start)
    rm -f "$w"/etc/ssh/ssh_host_*
    echo "== $name: rootfs $(du -sm "$w" | cut -f1) MB after trimming" >&2
    tar -C "$w" --numeric-owner -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    rm -rf "$w"
    find "$OUT" -maxdepth 1 -name "$name-$SUITE-*.tar" ! -name "${tar##*/}" -delete   # older recipes
  fi
  echo "$tar"
}

BASE_RECIPE=$(declare -f base_tar mirror sources_list | sha256sum | cut -c1-12)
mkdir -p "$OUT"
for n in "$@"; do
  t0=$(ts); image_tar "$n"; echo "== rootfs $n ready in $(( $(ts) - t0 ))s" >&2
done
