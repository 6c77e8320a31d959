"""Secrets onto libcloud nodes over SSH after they boot, never in their user data.

A node's user data is readable by anyone allowed to read the node's attributes through the
compute API (EC2's DescribeInstanceAttribute, OpenStack's server metadata...). With `ssh` and
`key_name` set, the user data carries the secrets' names only; once a new node runs, portable
logs in over the channel the data roles use (providers/vm/ssh.py: host keys checked, the
key from `ssh.key_file` or the agent) and writes the values with secret_push.py, which the
bootstrap waits for. The login is retried until the node's SSH server answers and its
bootstrap has started, within the boot budget.

The registry password the nodes log in with (`registry.password_from`) travels the same way:
pushed with the secrets as the file the bootstrap's `docker login` reads.

Without `ssh`, an app that mounts a secret (or whose target logs in to its registry) is
refused while planning (unmet_settings, exit 2), unless the target says
`allow_secrets_in_metadata: true`: then the values ride in the user data as they once did,
and `plan` warns per service (docs/security.md).
"""
from __future__ import annotations

import shlex
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from portable.errors import InputError, Problem, TargetError
from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.libcloud.connect import call
from portable.providers.libcloud.settings import LibcloudSettings
from portable.providers.vm.secret_fetch import PUSHED
from portable.providers.vm.secret_push import NOT_STARTED, delivered_values, needs_channel, payload, services_with_secrets, until_written, write_script
from portable.providers.vm.settings import RegistryLogin, logs_in

SSH_TIMEOUT = 60.0  # one push: the payload is a few lines


def pushes_secrets(settings: LibcloudSettings) -> bool:
    """True when the nodes are reached over SSH, so their secrets are pushed after boot."""
    return settings.ssh is not None and bool(settings.key_name)


def secret_source(settings: LibcloudSettings) -> Mapping[str, str] | None:
    """What the bootstrap is told about its secrets: wait for the push, or (None) read them
    from the user data."""
    return PUSHED if pushes_secrets(settings) else None


def metadata_secret_refusals(app: App, settings: LibcloudSettings) -> list[Problem]:
    """One problem per service whose secrets could only ride in the user data (no `ssh`), unless
    the target accepts that with `allow_secrets_in_metadata` (then legacy_path_warnings says it)."""
    if pushes_secrets(settings) or settings.allow_secrets_in_metadata:
        return []
    return [Problem(f"services.{name}.secrets", f"target `{app.target_name}` has no `ssh`, so these secret values would ride in the nodes' user data, "
                    "readable through the cloud API: set `key_name` and `ssh` on the target so portable writes them over SSH after boot, "
                    "or set `allow_secrets_in_metadata: true` on it to accept that")
            for name in services_with_secrets(app)] + _registry_refusal(app, settings.registry)


def _registry_refusal(app: App, registry: RegistryLogin | None) -> list[Problem]:
    if not logs_in(registry):
        return []
    return [Problem(f"targets.{app.target_name}.registry.password_from", f"target `{app.target_name}` has no `ssh`, so the registry password would ride in the nodes' "
                    "user data, readable through the cloud API: set `key_name` and `ssh` on the target so portable writes it over SSH after boot, "
                    "or set `allow_secrets_in_metadata: true` on it to accept that")]


def legacy_path_warnings(app: App, settings: LibcloudSettings) -> list[str]:
    """Plan warnings, one per service whose secrets ride in the user data (no `ssh`, and the
    target's `allow_secrets_in_metadata`: without it planning was refused)."""
    if pushes_secrets(settings):
        return []
    return [f"services.{name}.secrets: on target {app.target_name} their values ride in the node's user data, readable through the cloud API: "
            "set `key_name` and `ssh` on the target so portable writes them over SSH after boot"
            for name in services_with_secrets(app)] + (
        [f"targets.{app.target_name}.registry.password_from: on target {app.target_name} the registry password rides in the node's user data, "
         "readable through the cloud API: set `key_name` and `ssh` on the target so portable writes it over SSH after boot"]
        if logs_in(settings.registry) else [])


def check_secret_push(app: App, settings: LibcloudSettings) -> None:
    """While planning: the SSH key the secrets will be pushed with can be loaded, so a wrong
    `ssh.key_file` (or an empty agent) is exit 2 naming it before any node is started, rather
    than a node removed after boot_timeout."""
    if not pushes_secrets(settings) or not (services_with_secrets(app) or logs_in(settings.registry)):
        return
    from portable.providers.base import settings_error
    from portable.providers.vm.ssh_settings import ssh_roles

    ssh_roles("libcloud")
    from portable.providers.vm.ssh import SshChannel

    assert settings.ssh is not None
    try:
        SshChannel(app.target_name, settings.ssh, settings.key_name, app.base_dir)._client_keys()
    except InputError as exc:
        field = "ssh.key_file" if settings.ssh.key_file else "ssh"
        raise settings_error(app, field, f"the secrets are written to the nodes over SSH, and {exc.message}", exc.hint) from None


def _run_with_stdin(transport: Any, command: str, data: bytes) -> tuple[int, str]:
    """Runs `command` with `data` on its stdin; (exit status, the end of its stderr)."""
    channel = transport.open_session()
    channel.settimeout(SSH_TIMEOUT)
    try:
        channel.exec_command(command)
        channel.sendall(data)
        channel.shutdown_write()
        code = channel.recv_exit_status()
        err = b""
        while channel.recv_stderr_ready():
            err += channel.recv_stderr(1 << 16)
        return code, err.decode(errors="replace").strip()[-300:]
    except socket.timeout:
        raise TargetError(f"writing the secrets did not finish within {int(SSH_TIMEOUT)}s") from None
    finally:
        channel.close()


def ssh_to_nodes(settings: LibcloudSettings, target: str, driver: Any, app: App, group: Resource,
                 nodes: Sequence[tuple[Any, int]]) -> tuple[Any, list[Any]]:
    """The SSH channel of the target's `ssh` settings and a Host per (node, replica), host keys
    from the console where the driver returns it (EC2), else trusted on first use."""
    from portable.providers.vm.ssh_settings import ssh_roles

    ssh_roles("libcloud")  # paramiko, or the `pip install` to run
    from portable.providers.vm.ssh import Host, SshChannel

    assert settings.ssh is not None
    channel = SshChannel(target, settings.ssh, settings.key_name, app.base_dir)

    def console(node: Any) -> Callable[[], str] | None:
        if settings.driver != "ec2":
            return None
        return lambda: str((call(driver.ex_get_console_output, node, action="read the console of", what=f"instance {node.id}") or {}).get("output") or "")

    hosts = [Host(n.id, group.name, r, (list(n.public_ips or []) or [None])[0], (list(n.private_ips or []) or [None])[0], console=console(n))
             for n, r in nodes]
    return channel, hosts


def push_to_nodes(
    settings: LibcloudSettings,
    target: str,
    driver: Any,
    app: App,
    group: Resource,
    nodes: Sequence[tuple[Any, int]],  # (libcloud node, replica), running
    *,
    timeout: float,
    pause: Callable[[float], None],
    progress: Callable[[str], None],
) -> None:
    """After boot, over SSH: the group's secrets (push_secrets), then the migration archives
    its nodes wait for (vm/archive_push.py)."""
    from portable.providers.vm.archive_push import fed_volumes, push_archives

    secrets = needs_channel(group.spec, settings.registry) and pushes_secrets(settings)
    archives = bool(fed_volumes(app, group)) and settings.ssh is not None
    if not secrets and not archives:
        return
    channel, hosts = ssh_to_nodes(settings, target, driver, app, group, nodes)
    if secrets:
        push_secrets(channel, app, group, hosts, timeout=timeout, pause=pause, progress=progress, registry=settings.registry)
    if archives:
        push_archives(channel, app, group, hosts, timeout=timeout, pause=pause, progress=progress)


def push_secrets(
    channel: Any,  # providers.vm.ssh.SshChannel
    app: App,
    group: Resource,
    hosts: Sequence[Any],  # providers.vm.ssh.Host, one per new node
    *,
    timeout: float,
    pause: Callable[[float], None],
    progress: Callable[[str], None],
    registry: RegistryLogin | None = None,
) -> None:
    """Writes the group's secrets (and the password of the `registry` it logs in to) onto each
    new node once it answers over SSH; TargetError naming the node (never a value) when one
    does not within `timeout` seconds."""
    if not needs_channel(group.spec, registry):
        return
    from portable.providers.vm.ssh import AS_ROOT

    data = payload(delivered_values(app, group.spec, registry))
    command = f"{AS_ROOT} $S sh -c {shlex.quote(write_script(group.spec))}"
    deadline = time.monotonic() + timeout
    for host in hosts:
        def written(transport: Any, host: Any = host) -> bool:
            code, err = _run_with_stdin(transport, command, data)
            if code == 0:
                progress(f"{group.name}: secrets written to {host.id} over SSH")
                return True
            if code != NOT_STARTED:
                raise TargetError(f"could not write the secrets of {group.name} to node {host.id} over SSH (exit {code}): {err or 'no message'}")
            return False

        until_written(channel, host, written, deadline=deadline, pause=pause, waiting="its bootstrap had not started",
                      failed=f"could not write the secrets of {group.name} to node {host.id} over SSH within {timeout:.0f}s")

