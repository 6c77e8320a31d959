"""The read-only look at an app's objects that the no-change check makes (portable/plan/noop.py),
without the docker SDK.

Importing the SDK (and through it requests, urllib3 and charset_normalizer) costs more than
the rest of a no-op `deploy`; the check needs three GETs, so this module asks the engine
itself, over its unix socket or plain TCP, with the standard library. It answers only when
everything went as expected: any error, status or host it does not handle (ssh://, TLS)
raises `Unread`, and the caller then runs the full path, which reports problems in its own
words, with its retries.
"""
from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from portable.plan.resources import Observed

from portable.providers.docker import naming
from portable.providers.docker.drift import HINTS, managed_of
from portable.providers.docker.observed import observed_from

__all__ = ["HINTS", "Unread", "engine_for", "managed_of", "observe"]


class Unread(Exception):
    """The engine could not be read this way; the caller takes the full path."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._socket_path)
        self.sock = sock


def engine_for(provider: Any) -> dict[str, Any] | None:
    """How to reach the engine a DockerProvider reaches, for the no-change check's witness (the
    provider's SDK is loaded already), or None when this reader does not handle it (TLS, ssh://)."""
    from portable.providers.docker.engine import _tls, describe_host

    host = describe_host(provider.settings)
    if urlsplit(host).scheme not in ("unix", "tcp", "http") or _tls(provider.settings, host) is not False:
        return None
    return {"host": host, "timeout": float(provider.settings.timeout)}


def _connection(engine: Mapping[str, Any]) -> http.client.HTTPConnection:
    parts = urlsplit(str(engine["host"]))
    timeout = float(engine["timeout"])
    if parts.scheme == "unix":
        return _UnixConnection(parts.path, timeout)
    if parts.scheme in ("tcp", "http") and parts.hostname:
        return http.client.HTTPConnection(parts.hostname, parts.port or 2375, timeout=timeout)
    raise Unread(f"engine host {parts.scheme}:// is not read without the SDK")


def _get(conn: http.client.HTTPConnection, path: str) -> Any:
    try:
        conn.request("GET", path, headers={"Host": "docker"})
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        raise Unread(f"GET {path}: {exc}") from None
    if resp.status != 200:
        raise Unread(f"GET {path}: HTTP {resp.status}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise Unread(f"GET {path}: not JSON ({exc})") from None


def observe(engine: Mapping[str, Any], app: str) -> list[Observed]:
    """What `DockerProvider.observe` sees for `app`: the same three list calls (one per kind),
    read by the same code (observed.py)."""
    filters = quote(json.dumps(naming.app_filter(app)))
    conn = _connection(engine)
    try:
        networks = _get(conn, f"/networks?filters={filters}")
        volumes = _get(conn, f"/volumes?filters={filters}")
        containers = _get(conn, f"/containers/json?all=1&filters={filters}")
    finally:
        conn.close()
    if not isinstance(networks, list) or not isinstance(volumes, dict) or not isinstance(containers, list):
        raise Unread("the engine's answers are not lists")
    return observed_from(networks, volumes, containers)
