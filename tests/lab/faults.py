"""Fault injection for tests, against the lab's real servers (component `faults`, tests/lab/parts.sh).

Two tools, both in front of the real server, never in place of it:

* `Toxiproxy`: the lab's toxiproxy (v2.5.0) holds a TCP proxy in front of the kube-apiserver, moto,
  vcsim and engine B (names in env.json `LAB_FAULTS_PROXIES`, addresses in `LAB_FAULTS_*`). Toxics
  slow, cut or truncate the bytes: latency, timeout, reset_peer, limit_data, bandwidth, slow_close.
  A test points its client at the proxied address and adds toxics for as long as it needs them.
  The lab is shared by concurrent test runs: each client names its toxics after its process
  (`<kind>_<stream>_<pid>_<n>`) and `reset()` undoes only what it did itself; a test that must
  not see anyone else's toxics makes a proxy of its own (`private_proxy`).
* `HttpFaultProxy`: status codes (5xx, 429 with Retry-After) are not something a TCP proxy can make,
  so this small HTTP(S) proxy, started inside the test process, forwards every request to the
  real server and answers chosen requests itself with an error status instead.

    def test_x(faults):                                     # conftest fixture: Toxiproxy, reset after the test
        with faults.toxic("k8s_api", "latency", latency=2000):
            ...                                             # kubectl --server $LAB_FAULTS_K8S_API is 2 s slower
    with HttpFaultProxy(env["LAB_MOTO_URL"]) as p:
        p.fail(503, count=2)                                # the next two requests get 503, then moto answers
"""
from __future__ import annotations

import http.client
import itertools
import json
import os
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOXIC_KINDS = ("latency", "timeout", "reset_peer", "limit_data", "bandwidth", "slow_close", "slicer")


class FaultsError(RuntimeError):
    """toxiproxy refused a request (unknown proxy, bad toxic attributes...)."""


class Toxiproxy:
    """A client of toxiproxy's HTTP API (http://127.0.0.1:PORT, env.json LAB_FAULTS_API)."""

    def __init__(self, api: str) -> None:
        self.api = api.rstrip("/")
        self._mine: set[tuple[str, str]] = set()  # (proxy, toxic) this client added
        self._disabled: set[str] = set()  # proxies this client disabled
        self._private: set[str] = set()  # proxies this client made
        self._serial = itertools.count(1)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as e:
            raise FaultsError(f"toxiproxy {method} {path}: {e.code} {e.read().decode(errors='replace').strip()}") from e
        return json.loads(text) if text.strip() else None

    def proxies(self) -> dict[str, dict[str, Any]]:
        """name -> {"listen": "127.0.0.1:P", "upstream": "127.0.0.1:Q", "enabled": bool, "toxics": [...]}."""
        return dict(self._call("GET", "/proxies"))

    def listen(self, proxy: str) -> str:
        """host:port clients should use instead of the real server's."""
        return str(self.proxies()[proxy]["listen"])

    def add(self, proxy: str, kind: str, *, stream: str = "downstream", toxicity: float = 1.0,
            name: str | None = None, **attributes: int) -> str:
        """Adds a toxic (e.g. add("moto", "latency", latency=500, jitter=50)); returns its name.

        stream "downstream" acts on what the server sends back, "upstream" on what the client sends.
        Attributes per kind (toxiproxy's): latency(latency, jitter ms), timeout(timeout ms: 0 = hold
        the connection and send nothing, else close after it), reset_peer(timeout ms then TCP RST),
        limit_data(bytes then close), bandwidth(rate KB/s), slow_close(delay ms), slicer(average_size,
        size_variation, delay us).
        """
        if kind not in TOXIC_KINDS:
            raise ValueError(f"unknown toxic {kind!r} (toxiproxy has {', '.join(TOXIC_KINDS)})")
        name = name or f"{kind}_{stream}_{os.getpid()}_{next(self._serial)}"  # unique: runs share the lab
        self._call("POST", f"/proxies/{proxy}/toxics",
                   {"name": name, "type": kind, "stream": stream, "toxicity": toxicity, "attributes": attributes})
        self._mine.add((proxy, name))
        return name

    def remove(self, proxy: str, name: str) -> None:
        """Removes a toxic; one already gone raises (FaultsError, 404): someone else removed it."""
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
        self._mine.discard((proxy, name))

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/proxies/{proxy}/toxics"))

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """A disabled proxy closes its connections and refuses new ones (the server looks down)."""
        self._call("POST", f"/proxies/{proxy}", {"enabled": enabled})
        (self._disabled.discard if enabled else self._disabled.add)(proxy)

    def reset(self) -> None:
        """Undoes the faults this client made: its toxics removed (one already gone is fine), the
        proxies it disabled enabled again; its private proxies stay (close() deletes them). Not
        toxiproxy's POST /reset, which would also remove the toxics of the other test runs
        sharing the lab, in the middle of their tests."""
        for proxy, name in sorted(self._mine):
            self._forget(f"/proxies/{proxy}/toxics/{name}")
        self._mine.clear()
        for proxy in sorted(self._disabled):
            self._call("POST", f"/proxies/{proxy}", {"enabled": True})
        self._disabled.clear()

    def close(self) -> None:
        """reset(), and the private proxies this client made deleted (the conftest fixture does this after each test)."""
        self.reset()
        for proxy in sorted(self._private):
            self._forget(f"/proxies/{proxy}")
        self._private.clear()

    def _forget(self, path: str) -> None:
        """DELETE `path`, already gone being as good (the proxy of a toxic may be gone too)."""
        try:
            self._call("DELETE", path)
        except FaultsError as exc:
            if not isinstance(exc.__cause__, urllib.error.HTTPError) or exc.__cause__.code != 404:
                raise

    def clear_stale(self) -> None:
        """Removes what test runs that are gone left behind (a killed pytest): toxics and private
        proxies whose name carries a process id that no longer runs, and toxics not named this way.
        What a live run added is left alone. A shared proxy found disabled is enabled again: tests
        black out proxies of their own only (`private_proxy`), so that one was left by a run that died."""
        for name, proxy in self.proxies().items():
            if _stale(name):
                self._forget(f"/proxies/{name}")
                continue
            if "_private_" not in name and not proxy.get("enabled", True):
                self._call("POST", f"/proxies/{name}", {"enabled": True})
            for toxic in proxy.get("toxics") or []:
                if _stale(str(toxic["name"]), unnamed_is_stale=True):
                    self._forget(f"/proxies/{name}/toxics/{toxic['name']}")

    def private_proxy(self, like: str) -> str:
        """A proxy of this client's own in front of the same server as `like` (nobody else adds
        toxics to it or disables it); returns its name. `listen(name)` gives its address; `close()`
        deletes it."""
        upstream = self.proxies()[like]["upstream"]
        name = f"{like}_private_{os.getpid()}_{next(self._serial)}"
        self._call("POST", "/proxies", {"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": True})
        self._private.add(name)
        return name

    @contextmanager
    def toxic(self, proxy: str, kind: str, **kwargs: Any) -> Iterator[str]:
        """add() for the duration of a with block."""
        name = self.add(proxy, kind, **kwargs)
        try:
            yield name
        finally:
            self.remove(proxy, name)

    # the four of the hardening suite, spelled out
    def latency(self, proxy: str, ms: int, jitter: int = 0, **kw: Any) -> str:
        return self.add(proxy, "latency", latency=ms, jitter=jitter, **kw)

    def timeout(self, proxy: str, ms: int = 0, **kw: Any) -> str:
        return self.add(proxy, "timeout", timeout=ms, **kw)

    def reset_peer(self, proxy: str, after_ms: int = 0, **kw: Any) -> str:
        return self.add(proxy, "reset_peer", timeout=after_ms, **kw)

    def limit_data(self, proxy: str, nbytes: int, **kw: Any) -> str:
        return self.add(proxy, "limit_data", bytes=nbytes, **kw)


def _stale(name: str, *, unnamed_is_stale: bool = False) -> bool:
    """True when `name` ends in `_<pid>_<n>` of a process that no longer runs (or, with
    `unnamed_is_stale`, when it has no such ending: a toxic added under a fixed name)."""
    parts = name.rsplit("_", 2)
    if len(parts) != 3 or not (parts[1].isdigit() and parts[2].isdigit()):
        return unnamed_is_stale
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# ------------------------------------------------------------------ status-code faults
@dataclass
class StatusFault:
    """Answer `status` instead of forwarding, `count` times (None: until cleared), for matching requests."""

    status: int
    count: int | None = 1
    path_prefix: str = ""
    method: str | None = None
    retry_after: int | None = None
    body: str = ""

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path_prefix) and (self.method is None or self.method == method)


HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length"}


class HttpFaultProxy:
    """An HTTP(S) proxy on 127.0.0.1 in front of one real server, injecting status codes on demand.

    Requests are forwarded whole (method, path, headers, body) and answered with the server's
    status, headers and body, except those a `fail()` rule matches, which get that rule's status
    without reaching the server. Not for upgrades (exec, attach, port-forward) or watches: the
    server's answer is read whole before it is sent on.
    upstream: "http://127.0.0.1:PORT" or "https://..." (verified against `upstream_ca`, or not at all
    with `upstream_insecure`); certfile/keyfile make the proxy itself speak TLS (e.g. the lab
    apiserver's own certificate, so clients keep checking the lab CA).
    """

    def __init__(self, upstream: str, *, upstream_ca: str | None = None, upstream_insecure: bool = False,
                 certfile: str | None = None, keyfile: str | None = None, timeout: float = 60) -> None:
        u = urllib.parse.urlsplit(upstream)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the fault proxy forwards to loopback servers only, not {u.hostname}")
        self.scheme, self.host, self.port = u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80)
        self.base_path = u.path.rstrip("/")
        self.timeout = timeout
        self._ctx: ssl.SSLContext | None = None
        if self.scheme == "https":
            self._ctx = ssl.create_default_context(cafile=upstream_ca)
            if upstream_insecure:
                self._ctx.check_hostname, self._ctx.verify_mode = False, ssl.CERT_NONE
        self.rules: list[StatusFault] = []
        self.seen: list[tuple[str, str, int]] = []      # (method, path, status answered) of every request
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.tls = bool(certfile)
        if certfile:
            sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            sctx.load_cert_chain(certfile, keyfile)
            self._server.socket = sctx.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        """Where clients connect instead of the upstream (same path prefix)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._server.server_address[1]}{self.base_path}"

    def fail(self, status: int, count: int | None = 1, *, path_prefix: str = "", method: str | None = None,
             retry_after: int | None = None, body: str = "") -> StatusFault:
        """From now on answer `status` to `count` matching requests (path_prefix relative to the server root)."""
        rule = StatusFault(status, count, path_prefix, method, retry_after, body or f"injected {status}\n")
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def _take_rule(self, method: str, path: str) -> StatusFault | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    if rule.count is not None:
                        rule.count -= 1
                        if rule.count <= 0:
                            self.rules.remove(rule)
                    return rule
        return None

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes | None
                 ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn: http.client.HTTPConnection
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._ctx)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, [(k, v) for k, v in r.getheaders() if k.lower() not in HOP_BY_HOP], r.read()
        finally:
            conn.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                rule = proxy._take_rule(self.command, self.path)
                if rule is not None:
                    status, headers, payload = rule.status, [("Content-Type", "text/plain")], rule.body.encode()
                    if rule.retry_after is not None:
                        headers.append(("Retry-After", str(rule.retry_after)))
                else:
                    fwd = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    fwd["Host"] = f"{proxy.host}:{proxy.port}"
                    try:
                        status, headers, payload = proxy._forward(self.command, self.path, fwd, body)
                    except OSError as e:
                        status, headers, payload = 502, [("Content-Type", "text/plain")], f"upstream: {e}\n".encode()
                with proxy._lock:
                    proxy.seen.append((self.command, self.path, status))
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

        return Handler

    def start(self) -> HttpFaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HttpFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
