"""A kubeconfig read the way the kubernetes SDK's `load_kube_config` reads it, without the SDK,
for the no-change check (reader.py): which apiserver, and with which credentials.

Only the common, static logins are read: a bearer `token` or `tokenFile`, a client
certificate and key (files or `-data`), a CA (file or `-data`) or `insecure-skip-tls-verify`.
Everything whose outcome this module cannot reproduce exactly (exec plugins, auth-provider,
basic auth, impersonation, `proxy-url`, `tls-server-name`, a proxy in the environment, an
unknown key) raises `Unhandled`, and the caller takes the full path, where the SDK does it.

Files merge as the SDK merges them (kubernetes/config/kube_config.py, KubeConfigMerger): the
paths of `KUBECONFIG` (or the target's `kubeconfig:`) split on `:`, missing ones skipped,
clusters, contexts and users merged by name with the first file winning, `current-context`
taken from the last file that sets it; relative paths are relative to the file the cluster
came from (the SDK's choice for certificates, the user's file for `tokenFile`).

Secrets stay in memory: a `Login` prints no token or key, and client certificate or key
*data* reach `ssl` through a file only this user can read, deleted as soon as it is loaded.
"""
from __future__ import annotations

import base64
import os
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

DEFAULT = "~/.kube/config"
CLUSTER_KEYS = frozenset({"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify", "extensions"})
USER_KEYS = frozenset({"token", "tokenFile", "client-certificate", "client-certificate-data", "client-key", "client-key-data", "extensions"})
CONTEXT_KEYS = frozenset({"cluster", "user", "namespace", "extensions"})
PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy")


class Unhandled(Exception):
    """The kubeconfig asks for something this reader does not do as the SDK does."""


@dataclass(frozen=True)
class Pem:
    """A certificate or key: a file, or the decoded bytes of a `-data` field."""

    path: str | None = None
    data: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Login:
    """Where the apiserver is and how to prove who we are. Never written anywhere."""

    context: str
    server: str
    verify: bool
    ca: Pem | None
    cert: Pem | None
    key: Pem | None
    token: str | None = field(default=None, repr=False)


def candidates(kubeconfig: str | None, environ: Mapping[str, str]) -> list[str]:
    """The files the SDK would try, in order (some may not exist): the target's `kubeconfig:`,
    else KUBECONFIG, else ~/.kube/config, each split on `:`."""
    source = os.path.expanduser(kubeconfig) if kubeconfig else environ.get("KUBECONFIG", DEFAULT)
    return [os.path.expanduser(p) for p in source.split(":") if p]


def resolve(paths: Sequence[str], context: str | None, environ: Mapping[str, str]) -> Login:
    """The login the SDK would build from `paths` for `context` (None: the current one)."""
    if any(environ.get(v) or environ.get(v.upper()) for v in PROXY_VARIABLES):
        raise Unhandled("a proxy is set in the environment")
    merged = _merge(paths)
    name = context if context is not None else merged.get("current-context")
    ctx, _ = _named(merged, "contexts", name, "context")
    _only(ctx, CONTEXT_KEYS, f"context {name}")
    cluster, cluster_file = _named(merged, "clusters", ctx.get("cluster"), "cluster")
    _only(cluster, CLUSTER_KEYS, f"cluster {ctx.get('cluster')}")
    user: Mapping[str, Any] = {}
    user_file = cluster_file
    if ctx.get("user"):
        found = _find(merged, "users", ctx["user"])
        if found is not None:
            user, user_file = _body(found[0], "user"), found[1]
    _only(user, USER_KEYS, f"user {ctx.get('user')}")
    server = str(cluster.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise Unhandled("the server is not an http(s) URL")
    base = os.path.dirname(os.path.abspath(cluster_file))
    tls = server.startswith("https://")
    return Login(
        context=str(name),
        server=server,
        verify=not cluster.get("insecure-skip-tls-verify", False),
        ca=_pem(cluster, "certificate-authority", base) if tls else None,
        cert=_pem(user, "client-certificate", base) if tls else None,
        key=_pem(user, "client-key", base) if tls else None,
        token=_token(user, os.path.dirname(os.path.abspath(user_file))),
    )


def _merge(paths: Sequence[str]) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    merged: dict[str, Any] = {}
    lists: dict[str, list[tuple[Mapping[str, Any], str]]] = {"clusters": [], "contexts": [], "users": []}
    read = False
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            doc = yaml.load(f, Loader=loader)  # noqa: S506 - a safe loader
        if not isinstance(doc, dict):
            raise Unhandled(f"{path} is not a kubeconfig")
        read = True
        for item, entries in lists.items():
            for entry in doc.get(item) or []:
                if not isinstance(entry, dict) or "name" not in entry:
                    raise Unhandled(f"{path}: an entry of {item} has no name")
                if not any(e["name"] == entry["name"] for e, _ in entries):
                    entries.append((entry, path))
        if "current-context" in doc:
            merged["current-context"] = doc["current-context"]
    if not read:
        raise Unhandled("no kubeconfig file exists")
    merged.update(lists)
    return merged


def _find(merged: Mapping[str, Any], item: str, name: Any) -> tuple[Mapping[str, Any], str] | None:
    for entry, path in merged[item]:
        if entry["name"] == name:
            return entry, path
    return None


def _named(merged: Mapping[str, Any], item: str, name: Any, body: str) -> tuple[Mapping[str, Any], str]:
    found = _find(merged, item, name) if name else None
    if found is None:
        raise Unhandled(f"no {body} named {name!r}")
    return _body(found[0], body), found[1]


def _body(entry: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = entry.get(key)
    if not isinstance(value, dict):
        raise Unhandled(f"{entry.get('name')!r} has no {key} mapping")
    return value


def _only(section: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    extra = sorted(set(section) - allowed)
    if extra:
        raise Unhandled(f"{what} uses {', '.join(extra)}")


def _pem(section: Mapping[str, Any], key: str, base: str) -> Pem | None:
    """The SDK's FileOrData: the `-data` field when present (even empty), else the file."""
    if f"{key}-data" in section:
        data = section[f"{key}-data"]
        return Pem(data=base64.standard_b64decode(data)) if data else None
    if key in section:
        return Pem(path=os.path.normpath(os.path.join(base, str(section[key]))))
    return None


def _token(user: Mapping[str, Any], base: str) -> str | None:
    if "token" in user:
        return str(user["token"]) if user["token"] else None
    if "tokenFile" in user:
        with open(os.path.normpath(os.path.join(base, str(user["tokenFile"]))), encoding="utf-8") as f:
            return f.read() or None  # as the SDK: the file's text as it is
    return None


def ssl_context(login: Login) -> ssl.SSLContext:
    """TLS as the SDK's urllib3 pool sets it: the CA given (else the system's), the hostname
    checked unless `insecure-skip-tls-verify`, and the client certificate."""
    if login.verify:
        ca = login.ca
        if ca is None:
            context = ssl.create_default_context()
        elif ca.data is not None:
            context = ssl.create_default_context(cadata=ca.data.decode("ascii"))
        else:
            context = ssl.create_default_context(cafile=ca.path)
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if login.cert is not None:
        if login.key is None:
            raise Unhandled("a client certificate without its key")
        with _as_file(login.cert) as cert, _as_file(login.key) as key:
            context.load_cert_chain(cert, key)
    return context


@contextmanager
def _as_file(pem: Pem) -> Iterator[str]:
    """A path to `pem`: its own file, or a temporary one (mode 0600, as mkstemp makes it)
    removed on leaving, since `load_cert_chain` reads only files."""
    if pem.path is not None:
        yield pem.path
        return
    import tempfile  # only here: most kubeconfigs name files

    fd, path = tempfile.mkstemp(prefix="portable-kube-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem.data or b"")
        yield path
    finally:
        os.unlink(path)
