"""Service logs: the last lines of every replica, or all replicas followed at once.

Following merges one reader thread per container into one iterator, each line tagged with
its service and replica, the way `docker compose logs -f` shows them.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import docker

from portable.errors import InputError
from portable.manifest.app import App
from portable.plan.resources import LogLine

from portable.providers.docker import naming
from portable.providers.docker.engine import engine_call, retried

_DONE = object()


def _replicas(client: docker.DockerClient, app: App, services: list[str]) -> list[dict[str, Any]]:
    unknown = [s for s in services if s not in app.services]
    if unknown:
        raise InputError(f"no service named {', '.join(unknown)} in {app.name}; services: {', '.join(sorted(app.services))}")
    filters = {"label": [f"{naming.LABEL_APP}={app.name}", f"{naming.LABEL_KIND}={naming.KIND_CONTAINER}"]}
    found = retried(f"listing containers of {app.name}", lambda: client.api.containers(all=True, filters=filters))
    wanted = set(services or app.services)
    picked = [c for c in found if (c.get("Labels") or {}).get(naming.LABEL_SERVICE) in wanted]
    return sorted(picked, key=lambda c: str(c["Names"][0]))


def _line(c: dict[str, Any], raw: bytes) -> LogLine:
    labels = c.get("Labels") or {}
    return LogLine(labels.get(naming.LABEL_SERVICE, ""), str(c["Names"][0]).lstrip("/"),
                   raw.decode(errors="replace").rstrip("\r\n"))


def read_logs(client: docker.DockerClient, app: App, services: list[str], *, follow: bool, tail: int) -> Iterator[LogLine]:
    picked = _replicas(client, app, services)
    if not follow:
        for c in picked:
            with engine_call(f"reading logs of {c['Names'][0].lstrip('/')}"):
                data = client.api.logs(c["Id"], stdout=True, stderr=True, tail=tail if tail >= 0 else "all")
            for raw in data.splitlines():
                yield _line(c, raw)
        return
    lines: queue.Queue[Any] = queue.Queue(maxsize=1000)

    def pump(c: dict[str, Any]) -> None:
        try:
            stream = client.api.logs(c["Id"], stdout=True, stderr=True, stream=True, follow=True,
                                     tail=tail if tail >= 0 else "all")
            buf = b""
            for chunk in stream:
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    lines.put(_line(c, raw))
            if buf:
                lines.put(_line(c, buf))
        except docker.errors.APIError:
            pass  # the container went away: its stream simply ends
        finally:
            lines.put(_DONE)

    for c in picked:
        threading.Thread(target=pump, args=(c,), daemon=True, name=f"logs-{c['Id'][:12]}").start()
    open_streams = len(picked)
    while open_streams:
        item = lines.get()
        if item is _DONE:
            open_streams -= 1
            continue
        yield item
