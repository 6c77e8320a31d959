"""The shell script each VM runs at first boot to start its service's container.

It is the VM counterpart of the Docker target: the same env, ports, volumes, health check,
restart policy and stop grace, applied with the `docker` CLI on the instance. The host part
(install the engine, format and mount data disks) is skipped when the script runs with
PORTABLE_SKIP_HOST_SETUP=1, which is how tests run the container part on the lab's engine.

Environment knobs read by the script (all optional): PORTABLE_ROOT (default
/var/lib/portable), PORTABLE_SKIP_HOST_SETUP, PORTABLE_DOCKER (the docker command),
PORTABLE_BIND_ADDRESS (host address ports are published on; default all).
"""
from __future__ import annotations

import base64
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from portable.data.fed_restore import wait_lines
from portable.data.restore_script import is_fed, render_restore_script
from portable.providers.hardening import docker_flags
from portable.providers.vm.group import group_disks
from portable.providers.vm.secret_fetch import REGISTRY_PASSWORD, fetch_lines

SECRET_PLACEHOLDER = "<secret {name}: written to the VM at apply time>"
_Q = shlex.quote

_PRELUDE = r'''set -eu
ROOT="${PORTABLE_ROOT:-/var/lib/portable}"
SKIP_HOST="${PORTABLE_SKIP_HOST_SETUP:-0}"
DOCKER="${PORTABLE_DOCKER:-docker}"
BIND="${PORTABLE_BIND_ADDRESS:-}"
[ -z "$BIND" ] || BIND="$BIND:"
export DOCKER_CONFIG="$ROOT/docker-config"
say() {
  echo "portable: $*"
  if [ "$SKIP_HOST" != 1 ] && [ -w /dev/console ]; then echo "portable: $*" >/dev/console 2>/dev/null || true; fi
}
fail() { say "FAILED $WHAT: $*"; echo "failed: $*" >"$ROOT/status"; exit 1; }
mkdir -p "$ROOT" "$ROOT/volumes" "$ROOT/files"
( umask 077; mkdir -p "$ROOT/secrets" "$DOCKER_CONFIG" )
echo starting >"$ROOT/status"

ensure_engine() {
  if ! command -v docker >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || fail "no container engine and no apt-get: use an Ubuntu or Debian cloud image"
    say "installing the container engine (docker.io)"
    export DEBIAN_FRONTEND=noninteractive
    i=0; until apt-get update -q && apt-get install -y -q docker.io; do
      i=$((i+1)); [ $i -lt 5 ] || fail "could not install docker.io"; sleep $((i*5)); done
  fi
  if command -v systemctl >/dev/null 2>&1; then systemctl enable --now docker >/dev/null 2>&1 || true; fi
  i=0; until $DOCKER info >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 60 ] || fail "the container engine did not start"; sleep 2; done
}

# find_disk LABEL CANDIDATE...: the disk already labelled, else the first candidate present
find_disk() {
  label=$1; shift
  if [ -e "/dev/disk/by-label/$label" ]; then readlink -f "/dev/disk/by-label/$label"; return 0; fi
  for pattern in "$@"; do for dev in $pattern; do
    if [ -b "$dev" ]; then readlink -f "$dev"; return 0; fi
  done; done
  return 1
}

# mount_disk LABEL MOUNTPOINT CANDIDATE...: format on first use only, then mount (and on reboots)
mount_disk() {
  label=$1; mnt=$2; shift 2
  i=0; until dev=$(find_disk "$label" "$@"); do
    i=$((i+1)); [ $i -lt 150 ] || fail "data disk $label did not appear (looked for $*)"; sleep 2; done
  if ! blkid "$dev" >/dev/null 2>&1; then
    say "formatting $dev as $label (first use)"; mkfs.ext4 -q -L "$label" "$dev" || fail "could not format $dev"
  fi
  mkdir -p "$mnt"
  mountpoint -q "$mnt" || mount "$dev" "$mnt" || fail "could not mount $dev on $mnt"
  grep -q " $mnt " /etc/fstab || echo "LABEL=$label $mnt ext4 defaults,nofail 0 2" >>/etc/fstab
}

# write_secret NAME BASE64: a root-only file the container gets read-only
write_secret() {
  ( umask 077; printf '%s' "$2" | base64 -d >"$ROOT/secrets/$1" ) || fail "could not write secret $1"
  chmod 0400 "$ROOT/secrets/$1"
}

# wait_ready NAME TIMEOUT: until the engine reports the container healthy (or running, without a check)
wait_ready() {
  deadline=$(( $(date +%s) + $2 ))
  while :; do
    state=$($DOCKER inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1" 2>/dev/null || echo "missing none")
    case "$state" in
      "running healthy"|"running none") return 0 ;;
      "running unhealthy") fail "health check failing: $($DOCKER inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$1" 2>/dev/null | tail -c 300)" ;;
      exited*|dead*|missing*) fail "container $state: $($DOCKER logs --tail 5 "$1" 2>&1 | tr '\n' ' ')" ;;
    esac
    [ "$(date +%s)" -lt "$deadline" ] || fail "not healthy after $2s ($state): $($DOCKER inspect -f '{{if .State.Health}}{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}' "$1" 2>/dev/null | tail -c 300)"
    sleep 2
  done
}
'''


_RESTORE_DEST = "/portable-restore"
RESTORE_WAITING = "restore-waiting-"  # + volume, under the bootstrap's root: the volume waits to be fed


def restore_step(volume: str, archives: Sequence[Mapping[str, Any]]) -> list[str]:
    """Lines that fill `$ROOT/volumes/<volume>` from migrated archives before the container starts.

    The restore script (portable.migrate) is idempotent and never overwrites data; it runs as
    its own `sh` (it exits early when done) with its destination pointed at the volume.
    """
    script = render_restore_script(volume, _RESTORE_DEST, archives)
    line = f"dest={_RESTORE_DEST}"
    if line not in script.splitlines():
        raise RuntimeError("the restore script no longer starts with its destination line")
    script = script.replace(line, f'dest="$ROOT/volumes/{volume}"', 1)
    encoded = base64.b64encode(script.encode()).decode()
    path = f'"$ROOT/restore-{volume}.sh"'
    return [
        f"printf '%s' {encoded} | base64 -d >{path}",
        f"ROOT=\"$ROOT\" sh {path} || fail \"could not restore volume {volume} from its archives\"",
    ]


def fed_wait_step(volume: str, archives: Sequence[Mapping[str, Any]]) -> list[str]:
    """Lines that hold the bootstrap, once the volume's disk is mounted, until portable has
    written the migration's archives into it (over SSH, providers/vm/archive_push.py; vSphere
    has written them before the bootstrap was let go): no URL, key or plaintext copy in the
    user data. `$ROOT/restore-waiting-<volume>` tells the feeder the volume is in place."""
    return wait_lines(volume, archives, f'"$ROOT/volumes/{volume}"', channel="by portable", give_up="fail",
                      ready_flag=f'"$ROOT/{RESTORE_WAITING}{volume}"')


def _seconds(value: float) -> str:
    return f"{int(value * 1000)}ms" if value != int(value) else f"{int(value)}s"


def _health_args(health: Mapping[str, Any] | None) -> list[str]:
    if health is None:
        return []
    if health["kind"] == "http":
        url = f"http://127.0.0.1:{health['port']}{health['path']}"
        test = f"wget -q -O /dev/null {url} || curl -fsS -o /dev/null {url} || exit 1"
    elif health["kind"] == "tcp":
        test = f"nc -z 127.0.0.1 {health['port']} || exit 1"
    else:
        test = shlex.join(health["command"])
    return [
        "--health-cmd", test,
        "--health-interval", _seconds(health["interval_s"]),
        "--health-timeout", _seconds(health["timeout_s"]),
        "--health-retries", str(health["retries"]),
        "--health-start-period", _seconds(health["start_period_s"]),
    ]


def ready_timeout_for(spec: Mapping[str, Any]) -> int:
    """Seconds the script waits for health: the check's own budget plus time to start, min 120."""
    h = spec.get("health")
    if h is None:
        return 120
    return max(120, int(h["start_period_s"] + (h["interval_s"] + h["timeout_s"]) * (h["retries"] + 2) + 60))


def container_name(spec: Mapping[str, Any]) -> str:
    return f"vm-{spec['app']}-{spec['service']}"


def render_bootstrap(
    spec: Mapping[str, Any],
    *,
    secrets: Mapping[str, bytes] | None = None,
    registry: tuple[str, str, bytes | None] | None = None,
    hosts: Mapping[str, str] | None = None,
    disk_devices: Mapping[int, Sequence[str]] | None = None,
    replica: int = 0,
    dns_search: str | None = None,
    restores: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    secret_source: Mapping[str, str] | None = None,
) -> str:
    """The POSIX sh script for one instance of the group `spec`.

    `secrets` maps secret name -> value; None renders placeholders (for `render`/plan output).
    `registry` is (server, username, password); a None password renders a placeholder. With
    `secret_source`, the password is not in the script: it arrives as the secrets do (file
    REGISTRY_PASSWORD in the secrets directory) and `docker login` reads it from there.
    `hosts` maps peer service -> address (added as --add-host). `disk_devices` maps a disk
    index to device paths/globs where the cloud attaches it (by-label is tried first).
    `dns_search` is a DNS domain where the cloud publishes every service by name (peers then
    resolve `api` as api.<domain>, and follow replacements, unlike `hosts`).
    `restores` maps a volume to the archives a migration restores into it (App.restores).
    `secret_source` (region, endpoint, prefix): the secrets are read at boot from SSM
    Parameter Store (secret_fetch.py) and `secrets` is ignored; `secret_fetch.PUSHED`: the
    script waits, bounded, for the provider to write them after boot (secret_push.py).
    """
    name = container_name(spec)
    out: list[str] = [
        "#!/bin/sh",
        f"# portable bootstrap: app={spec['app']} service={spec['service']} revision={spec['revision']} replica={replica}",
        "# generated by portable; the same file runs on every boot attempt and is idempotent",
        f"WHAT={_Q('service=' + spec['service'] + ' revision=' + spec['revision'])}",
        _PRELUDE,
        'say "bootstrap $WHAT"',
        'if [ "$SKIP_HOST" != 1 ]; then',
        "  ensure_engine",
    ]
    for disk in group_disks(spec, replica):
        candidates = " ".join(_Q(c) for c in (disk_devices or {}).get(disk.index, ()))
        out.append(f"  mount_disk {disk.label} \"$ROOT/volumes/{disk.volume}\" {candidates}".rstrip())
    out.append("fi")
    for vol in spec["volumes"]:
        out.append(f"mkdir -p \"$ROOT/volumes/{vol['volume']}\"")
        archives = (restores or {}).get(vol["volume"])
        if archives:
            out += fed_wait_step(vol["volume"], archives) if is_fed(archives) else restore_step(vol["volume"], archives)
    if secret_source is not None:  # read at boot from the cloud's secret store, or pushed: no value here
        out += fetch_lines(spec, secret_source, registry_password=registry is not None)
    for ref in spec["secrets"] if secret_source is None else ():
        if secrets is None:
            out.append(f"# secret {ref['name']}: its value is written here at apply time")
            out.append(f"( umask 077; printf '%s' {_Q(SECRET_PLACEHOLDER.format(name=ref['name']))} >\"$ROOT/secrets/{ref['name']}\" )")
        else:
            value = base64.b64encode(secrets[ref["name"]]).decode()
            out.append(f"write_secret {_Q(ref['name'])} {value}")
    for i, f in enumerate(spec["files"]):
        encoded = base64.b64encode(f["content"].encode()).decode()
        out.append(f"printf '%s' {encoded} | base64 -d >\"$ROOT/files/{spec['service']}-{i}\"")
        out.append(f"chmod {f['mode']:o} \"$ROOT/files/{spec['service']}-{i}\"")
    if registry is not None:
        server, user, password = registry
        if secret_source is not None:  # the password came through the secret channel, as a root-only file
            out.append(f"$DOCKER login --username {_Q(user)} --password-stdin {_Q(server)} <\"$ROOT/secrets/{REGISTRY_PASSWORD}\" >/dev/null || fail \"docker login {server} was refused\"")
        elif password is None:
            pw = _Q(f"<password for {server}: written here at apply time>")
            out.append(f"printf '%s' {pw} | $DOCKER login --username {_Q(user)} --password-stdin {_Q(server)} >/dev/null || fail \"docker login {server}\"")
        else:
            pw = base64.b64encode(password).decode()
            out.append(f"printf '%s' {pw} | base64 -d | $DOCKER login --username {_Q(user)} --password-stdin {_Q(server)} >/dev/null || fail \"docker login {server} was refused\"")
    image = _Q(spec["image"])
    out += [
        f"say \"pulling {spec['image']}\"",
        f"i=0; until $DOCKER pull {image} >/dev/null; do i=$((i+1)); [ $i -lt 5 ] || fail \"could not pull {spec['image']}\"; sleep $((i*3)); done",
        f"$DOCKER rm -f {name} >/dev/null 2>&1 || true",
    ]
    run = [
        "$DOCKER run -d", f"--name {name}",
        f"--restart {spec['restart']}",
        f"--stop-timeout {int(spec['stop_grace_s'])}",
        f"--label portable.app={_Q(spec['app'])}",
        f"--label portable.service={_Q(spec['service'])}",
        f"--label portable.revision={spec['revision']}",
    ]
    run += [f"--label {_Q(k + '=' + v)}" for k, v in spec["labels"].items()]
    run += [f"-e {_Q(k + '=' + v)}" for k, v in spec["env"].items()]
    for p in spec["ports"]:
        if p["host_port"] is not None:
            proto = "udp" if p["protocol"] == "udp" else "tcp"
            run.append(f"-p \"${{BIND}}{p['host_port']}:{p['port']}/{proto}\"")
    for v in spec["volumes"]:
        run.append(f"-v \"$ROOT/volumes/{v['volume']}:{v['path']}{':ro' if v['read_only'] else ''}\"")
    for ref in spec["secrets"]:
        run.append(f"-v \"$ROOT/secrets/{ref['name']}:{ref['path']}:ro\"")
    for i, f in enumerate(spec["files"]):
        run.append(f"-v \"$ROOT/files/{spec['service']}-{i}:{f['path']}:ro\"")
    if dns_search:
        run.append(f"--dns-search {_Q(dns_search)}")
    for peer, address in sorted((hosts or {}).items()):
        run.append(f"--add-host {_Q(peer + ':' + address)}")
    health = _health_args(spec["health"])
    run += [f"{health[i]} {_Q(health[i + 1])}" for i in range(0, len(health), 2)]
    if spec["user"]:
        run.append(f"--user {_Q(spec['user'])}")
    if spec.get("security"):  # a spec from before hardening keeps docker's defaults
        run += docker_flags(spec["security"])
    if spec.get("working_dir"):
        run.append(f"--workdir {_Q(spec['working_dir'])}")
    argv: list[str] = []
    if spec["command"]:
        run.append(f"--entrypoint {_Q(spec['command'][0])}")
        argv += spec["command"][1:]
    argv += spec["args"] or []
    run.append(image + "".join(" " + _Q(a) for a in argv))
    out.append(" \\\n  ".join(run) + " >/dev/null || fail \"docker run failed\"")
    out += [
        f"wait_ready {name} {ready_timeout_for(spec)}",
        'echo "ready $WHAT" >"$ROOT/status"',
        'say "READY $WHAT"',
        "",
    ]
    return "\n".join(out)
