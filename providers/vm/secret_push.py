"""Secrets written into a machine after it boots, by the provider, instead of riding in its
user data (or guestinfo), which anyone allowed to read the instance's attributes or the VM's
configuration through the cloud API can read.

The user data of such a machine carries only the secrets' names: its bootstrap waits, bounded,
for them (secret_fetch.wait_lines). Once the machine answers, the provider sends one payload
over the channel it already uses for the machine's data: SSH on libcloud (the payload on the
command's stdin), VMware Tools' guest file transfer on vSphere (uploaded into the bootstrap's
0700 secrets directory). The same small script then writes each value as a root-only file
(0400) and, last, the marker the bootstrap waits for. No value is ever in a command line
(guest process listings show those), a log or an error message.
"""
from __future__ import annotations

import base64
import re
import shlex
import time
from collections.abc import Callable, Mapping
from typing import Any

from portable.manifest.app import App
from portable.providers.vm.cloud_init import resolve_group_secrets, resolve_registry_password
from portable.providers.vm.secret_fetch import REGISTRY_PASSWORD, delivered_marker
from portable.providers.vm.settings import RegistryLogin, logs_in

GUEST_ROOT = "/var/lib/portable"  # the bootstrap's default root: what an SSH or Tools session sees
NOT_STARTED = 75  # exit status of the script while the bootstrap has not started: try again later
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def needs_channel(spec: Mapping[str, Any], registry: RegistryLogin | None) -> bool:
    """True when a machine of the group `spec` must be delivered something (secrets, or the
    registry password it logs in with)."""
    return bool(spec.get("secrets")) or logs_in(registry)


def services_with_secrets(app: App) -> list[str]:
    """The services that will run and mount a secret: the ones whose values a VM target must
    deliver (pushed after boot, or, accepted by the target, in its metadata)."""
    return [name for name, svc in app.services.items() if svc.secrets and svc.replicas > 0]


def delivered_values(app: App, spec: Mapping[str, Any], registry: RegistryLogin | None) -> dict[str, bytes]:
    """What the channel delivers to one machine of the group `spec`, read now (apply time only):
    its secrets' values and, when the machines log in to the registry, the registry password
    (as REGISTRY_PASSWORD, the file the bootstrap's `docker login` reads). Never log them."""
    values = resolve_group_secrets(app, spec)
    if logs_in(registry):
        assert registry is not None
        values[REGISTRY_PASSWORD] = resolve_registry_password(registry, app.base_dir, app.env)
    return values


def payload(values: Mapping[str, bytes]) -> bytes:
    """`NAME BASE64` lines, one per secret: what the script reads."""
    lines = []
    for name, value in sorted(values.items()):
        if not _NAME.match(name) and name != REGISTRY_PASSWORD:  # names are manifest identifiers; never a path
            raise ValueError(f"secret name {name!r} cannot be a file name")
        lines.append(f"{name} {base64.b64encode(value).decode()}\n")
    return "".join(lines).encode()


def write_script(spec: Mapping[str, Any], source: str | None = None, *, root: str = GUEST_ROOT) -> str:
    """sh that writes the secrets of `payload` (stdin, or the file `source`, removed after) into
    the bootstrap's secrets directory and then the marker its wait looks for. Exits
    NOT_STARTED (changing nothing but removing `source`) while the bootstrap has not started."""
    q = shlex.quote
    marker = delivered_marker(spec)
    lines = [
        "set -eu",
        f"ROOT={q(root)}",
        f"SRC={q(source) if source else '/dev/stdin'}",
        *([f"trap 'rm -f {q(source)}' EXIT"] if source else []),
        f'[ -e "$ROOT/status" ] || exit {NOT_STARTED}',
        "umask 077",
        'mkdir -p "$ROOT/secrets"',
        "while read -r name value; do",
        '  [ -n "$name" ] || continue',
        '  case "$name" in */*|.*) echo "bad secret name" >&2; exit 2;; esac',
        '  printf \'%s\' "$value" | base64 -d >"$ROOT/secrets/.$name.new"',
        '  chmod 0400 "$ROOT/secrets/.$name.new"',
        '  mv -f "$ROOT/secrets/.$name.new" "$ROOT/secrets/$name"',
        'done <"$SRC"',
        f': >"$ROOT/secrets/{marker}"',
        "",
    ]
    return "\n".join(lines)


def until_written(channel: Any, host: Any, attempt: Callable[[Any], bool], *, deadline: float, pause: Callable[[float], None],
                  waiting: str, failed: str) -> None:
    """Runs `attempt(transport)` on `host` over SSH until it returns True; a node that is not
    reachable, not speaking SSH yet or closing on us is still booting, and so is one for which
    `attempt` returns False (`waiting` says why). Past `deadline`: TargetError `failed: why`."""
    from paramiko import SSHException

    from portable.errors import InputError, TargetError

    last = "it did not answer"
    while True:
        try:
            with channel.connect(host) as transport:
                if attempt(transport):
                    return
            last = waiting
        except InputError as exc:  # not reachable yet, or not speaking SSH yet: the node is booting
            last = exc.message
        except (OSError, EOFError, SSHException) as exc:  # its SSH server closed on us while starting
            last = f"the SSH connection was closed ({type(exc).__name__})"
        if time.monotonic() > deadline:
            raise TargetError(f"{failed}: {last}")
        pause(2)
