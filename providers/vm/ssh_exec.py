"""`portable exec` on the VM targets reached over SSH (aws, libcloud): `docker exec` in the
service's container, run through an SSH session to one instance of the service.

The VM bootstrap (bootstrap.py) runs each service as the container `vm-<app>-<service>` on
each of its instances, so replica N is the running instance tagged replica N-1 (the VM
runtime numbers from 0, `portable exec` from 1, as on Docker and Kubernetes). The channel
is the data roles' (ssh.py): same settings, host-key checks and login; as root through
`sudo -n` when the login user is not.

Before the command, one probe on the same connection says whether the container runs: a
missing container is a sentence (the bootstrap may not have run), not exit 1 of `docker
exec` passed off as the command's. Then stdout and stderr are copied as they arrive (a
`select` on the channel, which paramiko wakes for either stream), stdin (`-i`) is copied by
a thread and half-closed at its end so the command sees EOF, `--tty` asks the server for a
pseudo-terminal (stderr then arrives merged into stdout, as with `ssh -t`), and the exit
status of the session, which is `docker exec`'s and so the command's, is returned.
"""
from __future__ import annotations

import os
import select
import shlex
import shutil
import threading
from collections.abc import Sequence
from typing import Any

import paramiko

from portable.errors import InputError, TargetError
from portable.manifest.app import App
from portable.providers.base import ExecIO
from portable.providers.vm.ssh import AS_ROOT, CHUNK, Host, SshChannel
from portable.providers.vm.ssh_data import container_of

PROBE_TIMEOUT = 60.0  # seconds for `docker inspect` of the service's container
KEEPALIVE = 30  # seconds between SSH keepalives while a long command runs silently
CONTAINER_GONE = "gone"  # what the probe prints when docker knows no such container


def pick_host(app: App, hosts: Sequence[Host], service: str, replica: int, target: str) -> Host:
    """The instance of replica `replica` (1-based) of `service`, or InputError listing those running."""
    if service not in app.services:
        raise InputError(f"no service named {service} in {app.name}; services: {', '.join(sorted(app.services))}")
    mine = sorted((h for h in hosts if h.service == service), key=lambda h: (h.replica, h.id))
    for host in mine:
        if host.replica == replica - 1:
            return host
    running = ", ".join(f"{h.replica + 1} ({h.id})" for h in mine) or "none"
    raise InputError(f"{service} has no running replica {replica} on target {target} (running replicas: {running})",
                     hint="portable status shows the replicas; deploy first if there are none")


def docker_exec_line(container: str, command: Sequence[str], *, stdin: bool, tty: bool) -> str:
    """The remote shell line: `docker exec` of `command` in `container`, as root."""
    flags = ("-i " if stdin else "") + ("-t " if tty else "")
    argv = " ".join(shlex.quote(a) for a in command)
    return f"{AS_ROOT} exec $S docker exec {flags}{shlex.quote(container)} {argv}"


def _probe(channel: SshChannel, transport: paramiko.Transport, host: Host, container: str) -> None:
    """Raises TargetError unless `container` runs on `host` (read only)."""
    line = f"{AS_ROOT} $S docker inspect -f '{{{{.State.Running}}}}' {shlex.quote(container)} 2>/dev/null || echo {CONTAINER_GONE}"
    code, out, err = channel.run(transport, line, f"looking for container {container} on instance {host.id}", timeout=PROBE_TIMEOUT)
    said = out.strip()
    if code == 0 and said == "true":
        return
    if said == CONTAINER_GONE or said == "":
        raise TargetError(f"instance {host.id} of service {host.service} runs no container {container}: its bootstrap may not have run",
                          hint=f"`portable logs {host.service} -t {channel.target}` shows the instance's console{': ' + err.strip()[-200:] if err.strip() else ''}")
    raise TargetError(f"container {container} on instance {host.id} is not running (docker says running={said[:40]})",
                      hint=f"`portable status -t {channel.target}` shows the replicas; a deploy starts it again")


def _pump_stdin(source: Any, session: paramiko.Channel) -> None:
    """Copies the local input to the session, then half-closes it so the command reads EOF."""
    try:
        while chunk := (source.read1(CHUNK) if hasattr(source, "read1") else source.read(CHUNK)):
            session.sendall(chunk)
    except (OSError, paramiko.SSHException):
        return  # the command ended and closed its side
    try:
        session.shutdown_write()
    except (OSError, paramiko.SSHException):
        pass


def _copy_output(session: paramiko.Channel, io: ExecIO) -> None:
    """Copies stdout and stderr as they arrive until the command's exit status is in."""
    while True:
        select.select([session], [], [], 1.0)
        while session.recv_ready():
            io.out(session.recv(CHUNK))
        while session.recv_stderr_ready():
            io.err(session.recv_stderr(CHUNK))
        if session.exit_status_ready() and not session.recv_ready() and not session.recv_stderr_ready():
            return


def run_in_container(channel: SshChannel, host: Host, container: str, command: Sequence[str], io: ExecIO) -> int:
    """`docker exec` of `command` in `container` on `host`, streamed; its exit status."""
    with channel.connect(host) as transport:
        _probe(channel, transport, host, container)
        transport.set_keepalive(KEEPALIVE)
        session = transport.open_session()
        try:
            session.settimeout(None)  # a command runs as long as it runs, as with docker exec
            if io.tty:
                size = shutil.get_terminal_size()
                session.get_pty(term=os.environ.get("TERM", "xterm"), width=size.columns, height=size.lines)
            session.exec_command(docker_exec_line(container, command, stdin=io.stdin is not None, tty=io.tty))
            if io.stdin is not None:
                threading.Thread(target=_pump_stdin, args=(io.stdin, session), daemon=True, name=f"exec-stdin-{host.id}").start()
            else:
                session.shutdown_write()
            _copy_output(session, io)
            code = session.recv_exit_status()
        finally:
            session.close()
    if code < 0:  # the session closed without an exit status: the connection was lost
        raise TargetError(f"the SSH session to instance {host.id} ended before `{' '.join(command)[:60]}` reported an exit status",
                          hint="the instance may have stopped, or the network between dropped the connection; run it again")
    return code


def exec_over_ssh(channel: SshChannel, app: App, hosts: Sequence[Host], service: str, replica: int, command: Sequence[str], io: ExecIO) -> int:
    """The Executor role of an SSH-reached VM target: picks the replica's instance and runs there."""
    host = pick_host(app, hosts, service, replica, channel.target)
    return run_in_container(channel, host, container_of(app, service), command, io)
