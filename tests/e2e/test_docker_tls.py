"""A docker target reached over tcp:// with mutual TLS, the way remote engines are exposed.

The lab engine listens on a unix socket only, so the test puts a TLS terminator in front
of it (Python's ssl module, client certificates required, bytes relayed unchanged to the
real engine): what `dockerd --tlsverify -H tcp://...` does on the wire. Certificates are
made with openssl for this test. Checks `host`, `tls_verify` and `cert_path`, and that an
engine refusing the client is one clear error with exit code 1.
"""
from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_support import Cli, LabImages, ensure_images, force_remove_app, free_port, wait_for

pytestmark = [pytest.mark.lab("docker"), pytest.mark.timeout(300)]

APP = "dkt-tls"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(d: Path) -> None:
    """ca.pem, cert.pem + key.pem (client), server.pem + server-key.pem (IP 127.0.0.1)."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=lab-ca", "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, ext in (("server", "server.ext"), ("client", "client.ext")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "1",
                 "-extfile", ext, "-out", f"{name}.pem", cwd=d)
    shutil.copy(d / "client.pem", d / "cert.pem")
    shutil.copy(d / "client-key.pem", d / "key.pem")


class TlsTerminator(threading.Thread):
    """Accepts mutual-TLS connections on 127.0.0.1:port and relays them to the engine's socket."""

    def __init__(self, certs: Path, engine_socket: str) -> None:
        super().__init__(daemon=True)
        self.engine_socket = engine_socket
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certs / "server.pem", certs / "server-key.pem")
        self.ctx.load_verify_locations(certs / "ca.pem")
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]

    def run(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()  # no or wrong client certificate: refused, as dockerd --tlsverify does
            return
        engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        engine.connect(self.engine_socket)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(engine, client), daemon=True).start()
        pump(client, engine)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def tls_engine(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    certs = tmp_path / "certs"
    certs.mkdir()
    _certificates(certs)
    terminator = TlsTerminator(certs, "/var/run/docker.sock")
    terminator.start()
    yield terminator.port, certs
    terminator.close()


def _manifest(tmp_path: Path, port: int, tls_port: int, certs: Path, proxy: str) -> Path:
    file = tmp_path / "portable.yaml"
    file.write_text(f"""apiVersion: portable/v1
kind: Application
metadata: {{name: {APP}}}
services:
  web:
    image: lab/web:1
    stop_grace_period: 1s
    ports: [{{port: 8080, expose: public, published: {port}}}]
    health: {{http: {{path: /cgi-bin/health, port: 8080}}, interval: 1s}}
targets:
  remote:
    provider: docker
    host: tcp://127.0.0.1:{tls_port}
    tls_verify: true
    cert_path: {certs}
    proxy_image: {proxy}
  other-ca:
    provider: docker
    host: tcp://127.0.0.1:{tls_port}
    tls_verify: true
    cert_path: {certs / "other"}
  no-certs:
    provider: docker
    host: tcp://127.0.0.1:{tls_port}
    tls_verify: true
    cert_path: {certs / "missing"}
""")
    return file


def test_deploy_over_tcp_with_mutual_tls(tmp_path: Path, tls_engine: tuple[int, Path]) -> None:
    images: LabImages = ensure_images()
    tls_port, certs = tls_engine
    port = free_port()
    manifest = str(_manifest(tmp_path, port, tls_port, certs, images.proxy))
    cli = Cli(tmp_path / "state.db")
    force_remove_app(APP)
    try:
        targets = cli.run("targets", "-f", manifest)
        remote = next(line for line in targets.stdout.splitlines() if line.startswith("remote"))
        assert "Docker Engine" in remote and f"tcp://127.0.0.1:{tls_port}" in remote
        result = cli.run("deploy", "-f", manifest, "--target", "remote", "--yes")
        assert result.returncode == 0, result.stderr + result.stdout
        assert wait_for(f"http://127.0.0.1:{port}/cgi-bin/health").strip() == "ok"
        status = cli.run("status", "-f", manifest, "--target", "remote")
        assert f"http://127.0.0.1:{port}" in status.stdout
        result = cli.run("destroy", "-f", manifest, "--target", "remote", "--yes")
        assert result.returncode == 0, result.stderr
    finally:
        force_remove_app(APP)


def test_certificates_of_another_authority_fail_the_handshake_clearly(tmp_path: Path, tls_engine: tuple[int, Path]) -> None:
    tls_port, certs = tls_engine
    (certs / "other").mkdir()
    _certificates(certs / "other")  # a second CA: the engine refuses its client, the client its engine
    manifest = str(_manifest(tmp_path, free_port(), tls_port, certs, "lab/kamal-proxy:1"))
    cli = Cli(tmp_path / "state.db")
    result = cli.run("deploy", "-f", manifest, "--target", "other-ca", "--yes")
    assert result.returncode == 1
    assert f"the TLS handshake with the Docker engine at tcp://127.0.0.1:{tls_port} failed" in result.stderr
    assert "cert_path" in result.stderr and "Traceback" not in result.stderr
    missing = cli.run("deploy", "-f", manifest, "--target", "no-certs", "--yes")
    assert missing.returncode == 2
    assert "cert.pem" in missing.stderr and "key.pem" in missing.stderr
