"""The Kubernetes side of the no-change check without a cluster: kubeconfig.py reads a
kubeconfig as the SDK's `load_kube_config` does (compared with the SDK itself on the same
files), refuses what it does not read that way, keeps key data in a private temporary file
only while `ssl` loads it, and the reader imports none of the heavy modules."""
from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from portable.providers.kubernetes.kubeconfig import Login, Pem, Unhandled, candidates, resolve, ssl_context

CA = b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"
CERT = b"-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n"
SECRET = "s3cr3t-value"


def b64(data: bytes) -> str:
    return base64.standard_b64encode(data).decode()


def config(cluster: dict[str, Any], user: dict[str, Any], *, name: str = "lab", current: str | None = "lab") -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": name, "cluster": cluster}],
                           "users": [{"name": name, "user": user}], "contexts": [{"name": name, "context": {"cluster": name, "user": name}}]}
    if current is not None:
        doc["current-context"] = current
    return doc


def write(path: Path, doc: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def sdk_view(paths: list[str], context: str | None) -> dict[str, Any]:
    """What the SDK makes of the same files: host, verification, token and the bytes of its CA and client files."""
    kubernetes = pytest.importorskip("kubernetes")
    cfg = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=":".join(paths), context=context, client_configuration=cfg, persist_config=False)

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return {"server": cfg.host, "verify": bool(cfg.verify_ssl), "token": cfg.api_key.get("BearerToken"),
            "ca": read(cfg.ssl_ca_cert), "cert": read(cfg.cert_file), "key": read(cfg.key_file)}


def our_view(login: Login) -> dict[str, Any]:
    def read(pem: Pem | None) -> bytes | None:
        if pem is None:
            return None
        return pem.data if pem.data is not None else Path(str(pem.path)).read_bytes()

    return {"server": login.server, "verify": login.verify, "token": f"Bearer {login.token}" if login.token is not None else None,
            "ca": read(login.ca), "cert": read(login.cert), "key": read(login.key)}


def test_reads_what_the_sdk_reads(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(CA)
    (tmp_path / "pki" / "client.crt").write_bytes(CERT)
    (tmp_path / "pki" / "client.key").write_bytes(KEY)
    (tmp_path / "token").write_text("from-a-file")
    cases = {
        "token and relative CA": config({"server": "https://10.0.0.1:6443/", "certificate-authority": "pki/ca.crt"}, {"token": "t0ken"}),
        "all as data": config({"server": "https://k.example:443", "certificate-authority-data": b64(CA)},
                              {"client-certificate-data": b64(CERT), "client-key-data": b64(KEY)}),
        "files and tokenFile": config({"server": "https://k.example", "certificate-authority": str(tmp_path / "pki" / "ca.crt")},
                                      {"client-certificate": "pki/client.crt", "client-key": "pki/client.key", "tokenFile": "token"}),
        "insecure": config({"server": "https://k.example", "insecure-skip-tls-verify": True}, {"token": "t"}),
        "plain http": config({"server": "http://127.0.0.1:8080"}, {"token": "t"}),
    }
    for what, doc in cases.items():
        path = write(tmp_path / "config", doc)
        assert our_view(resolve([path], None, {})) == sdk_view([path], None), what


def test_files_merge_as_the_sdk_merges_them(tmp_path: Path) -> None:
    first = write(tmp_path / "a", config({"server": "https://first.example"}, {"token": "one"}, current="lab"))
    second_doc = config({"server": "https://second.example"}, {"token": "two"}, current="other")
    second_doc["clusters"].append({"name": "other", "cluster": {"server": "https://other.example"}})
    second_doc["contexts"].append({"name": "other", "context": {"cluster": "other", "user": "lab"}})
    second = write(tmp_path / "b", second_doc)
    missing = str(tmp_path / "absent")
    paths = candidates(None, {"KUBECONFIG": f"{first}:{missing}:{second}"})
    assert paths == [first, missing, second]
    for context in (None, "lab", "other"):
        login = resolve(paths, context, {})
        assert our_view(login) == sdk_view(paths, context), context
    assert resolve(paths, None, {}).context == "other"  # current-context of the last file that sets it
    assert resolve(paths, "lab", {}).server == "https://first.example"  # the first file's cluster of a name wins
    assert candidates("~/kube.yaml", {"KUBECONFIG": first}) == [os.path.expanduser("~/kube.yaml")]  # the target's kubeconfig: first
    assert candidates(None, {}) == [os.path.expanduser("~/.kube/config")]


@pytest.mark.parametrize("cluster, user, environ", [
    ({"server": "https://k", "proxy-url": "http://proxy:3128"}, {"token": SECRET}, {}),
    ({"server": "https://k", "tls-server-name": "kubernetes"}, {"token": SECRET}, {}),
    ({"server": "https://k"}, {"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}}, {}),
    ({"server": "https://k"}, {"auth-provider": {"name": "oidc"}}, {}),
    ({"server": "https://k"}, {"username": "u", "password": SECRET}, {}),
    ({"server": "https://k"}, {"as": "someone-else", "token": SECRET}, {}),
    ({"server": "https://k"}, {"token": SECRET}, {"HTTPS_PROXY": "http://proxy:3128"}),
    ({"server": "unix:///run/k.sock"}, {"token": SECRET}, {}),
])
def test_refuses_what_it_does_not_read_as_the_sdk(tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any], environ: dict[str, str]) -> None:
    path = write(tmp_path / "config", config(cluster, user))
    with pytest.raises(Unhandled) as caught:
        resolve([path], None, environ)
    assert SECRET not in str(caught.value)  # names what it refuses, never a value


def test_no_file_no_context_refused(tmp_path: Path) -> None:
    with pytest.raises(Unhandled):
        resolve([str(tmp_path / "absent")], None, {})
    path = write(tmp_path / "config", config({"server": "https://k"}, {"token": "t"}, current=None))
    with pytest.raises(Unhandled):
        resolve([path], None, {})
    with pytest.raises(Unhandled):
        resolve([path], "nowhere", {})


def test_login_prints_no_secret() -> None:
    login = Login("lab", "https://k", True, None, Pem(data=CERT), Pem(data=KEY), token="s3cr3t-token")
    assert "s3cr3t-token" not in repr(login) and "PRIVATE" not in repr(login)


def test_key_data_reaches_ssl_through_a_private_file_removed_after(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int, bytes]] = []

    def load_cert_chain(self: Any, certfile: str, keyfile: str | None = None, password: Any = None) -> None:
        for path in (certfile, keyfile):
            assert path is not None
            seen.append((path, stat.S_IMODE(os.stat(path).st_mode), Path(path).read_bytes()))

    import ssl

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", load_cert_chain)
    ssl_context(Login("lab", "https://k", False, None, Pem(data=CERT), Pem(data=KEY)))
    assert [(mode, data) for _, mode, data in seen] == [(0o600, CERT), (0o600, KEY)]
    assert not any(os.path.exists(path) for path, _, _ in seen)


def test_reader_imports_nothing_heavy() -> None:
    code = ("import sys; import portable.plan.noop, portable.providers.kubernetes.reader; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'kubernetes', 'urllib3', 'requests', 'tenacity')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
