"""`portable exec` on Docker: `docker exec` in one replica's container, through the SDK.

The replica is the container named `<app>-<service>-<n>` (a `-next` spare of an update in
progress is never picked). Without stdin the SDK's demultiplexed stream is copied as it
comes; with stdin (`-i`) the exec's socket is used both ways, the local input copied by a
thread and half-closed at its end, so `portable exec -i db -- psql < dump.sql` sees EOF.
"""
from __future__ import annotations

import socket
import threading
from typing import Any

import docker

from portable.errors import InputError
from portable.manifest.app import App
from portable.providers.base import ExecIO
from portable.providers.docker import naming
from portable.providers.docker.engine import engine_call, retried


def _container(client: docker.DockerClient, app: App, service: str, replica: int) -> dict[str, Any]:
    """The running container of replica `replica` of `service`, or InputError saying which exist."""
    if service not in app.services:
        raise InputError(f"no service named {service} in {app.name}; services: {', '.join(sorted(app.services))}")
    filters = {"label": [f"{naming.LABEL_APP}={app.name}", f"{naming.LABEL_SERVICE}={service}", f"{naming.LABEL_KIND}={naming.KIND_CONTAINER}"]}
    found = retried(f"listing containers of {app.name}-{service}", lambda: client.api.containers(filters=filters))
    by_name = {str(c["Names"][0]).lstrip("/"): c for c in found}
    wanted = naming.container_name(app.name, naming.replica_resource(service, replica))
    if wanted not in by_name:
        running = sorted(n for n in by_name if not n.endswith(naming.NEXT_SUFFIX))
        raise InputError(f"{service} has no running replica {replica} on target {app.target_name} (running: {', '.join(running) or 'none'})",
                         hint="portable status shows the replicas; deploy first if there are none")
    return by_name[wanted]


def _pump_stdin(source: Any, sock: socket.socket) -> None:
    """Copies the local input to the exec, then half-closes so the command reads EOF."""
    try:
        while chunk := (source.read1(65536) if hasattr(source, "read1") else source.read(65536)):
            sock.sendall(chunk)
    except OSError:
        return  # the command ended and closed its side
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _read_socket(sock: socket.socket, io: ExecIO) -> None:
    """Copies the exec's output: raw with a tty, else the engine's 8-byte-header frames."""
    buf = b""
    while True:
        data = sock.recv(65536)
        if not data:
            return
        if io.tty:
            io.out(data)
            continue
        buf += data
        while len(buf) >= 8:
            size = int.from_bytes(buf[4:8], "big")
            if len(buf) < 8 + size:
                break
            stream, payload, buf = buf[0], buf[8:8 + size], buf[8 + size:]
            (io.err if stream == 2 else io.out)(payload)


def exec_in(client: docker.DockerClient, app: App, service: str, replica: int, command: list[str], io: ExecIO) -> int:
    container = _container(client, app, service, replica)
    name = str(container["Names"][0]).lstrip("/")
    with engine_call(f"starting `{' '.join(command)[:60]}` in {name}"):
        exec_id = client.api.exec_create(container["Id"], command, stdout=True, stderr=True, stdin=io.stdin is not None, tty=io.tty)["Id"]
    if io.stdin is None:
        with engine_call(f"running `{' '.join(command)[:60]}` in {name}"):
            if io.tty:
                for chunk in client.api.exec_start(exec_id, stream=True, tty=True):
                    io.out(chunk)
            else:
                for out, err in client.api.exec_start(exec_id, stream=True, demux=True):
                    if out:
                        io.out(out)
                    if err:
                        io.err(err)
    else:
        with engine_call(f"attaching to `{' '.join(command)[:60]}` in {name}"):
            attached = client.api.exec_start(exec_id, socket=True, tty=io.tty)
        sock: socket.socket = getattr(attached, "_sock", attached)
        threading.Thread(target=_pump_stdin, args=(io.stdin, sock), daemon=True, name=f"exec-stdin-{name}").start()
        try:
            with engine_call(f"reading `{' '.join(command)[:60]}` in {name}"):
                _read_socket(sock, io)
        finally:
            attached.close()
    with engine_call(f"reading the exit code of `{' '.join(command)[:60]}` in {name}"):
        code = client.api.exec_inspect(exec_id).get("ExitCode")
    return int(code) if code is not None else 1


class DockerExec:
    """The Executor role (Capability.EXEC) of the docker provider."""

    client: docker.DockerClient

    def exec_in(self, app: App, service: str, replica: int, command: list[str], io: ExecIO) -> int:
        return exec_in(self.client, app, service, replica, command, io)
