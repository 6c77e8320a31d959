"""Test-only HTTP proxy in front of moto for libcloud's EC2 driver.

moto answers EC2 calls with xmlns="http://ec2.amazonaws.com/doc/2016-11-15" (no trailing
slash), and some calls (CreateVolume) with the namespace of an older API version, while real
AWS answers in the namespace of the version the client asked for, with the slash, which is
what libcloud's parser looks for; otherwise it parses empty lists or no volume size. This
proxy forwards every request unchanged and rewrites only that namespace in the answers
(see shared/lab/README.md).
"""
from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_NS = re.compile(rb'xmlns="http://ec2\.amazonaws\.com/doc/\d{4}-\d{2}-\d{2}/?"')
_VERSION = re.compile(rb"(?:^|&|\?)Version=(\d{4}-\d{2}-\d{2})")


class NamespaceProxy:
    """Listens on 127.0.0.1:<port> and forwards to `upstream` (the moto URL)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return None

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection", "accept-encoding")}
                req = urllib.request.Request(proxy.upstream + self.path, data=body, headers=headers, method=self.command)
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        status, reply, rheaders = r.status, r.read(), r.headers
                except urllib.error.HTTPError as e:
                    status, reply, rheaders = e.code, e.read(), e.headers
                asked = _VERSION.search((self.path.encode() + b"&" + (body or b"")))
                if asked:
                    reply = _NS.sub(b'xmlns="http://ec2.amazonaws.com/doc/' + asked.group(1) + b'/"', reply)
                self.send_response(status)
                for k, v in rheaders.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def __enter__(self) -> "NamespaceProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
