"""The read-only look at an app's objects that the no-change check makes (portable/plan/noop.py),
without the kubernetes SDK.

Importing the SDK (with urllib3, its generated models and tenacity) and the manifest model
costs more than the rest of a no-op `deploy`; the check needs one list per managed kind, so
this module asks the apiserver itself, over one kept-alive `http.client` connection, with
the credentials kubeconfig.py reads afresh from the kubeconfig (the witness holds none). It
answers only when everything went as expected: a kubeconfig it does not read as the SDK
does, another server or context than the witnessed one, any error or status, raises
`Unread`, and the caller then runs the full path, which reports problems in its own words,
with its retries.

Besides `observe`, a Kubernetes plan reads the cluster once more: preflight GETs every
`image_pull_secrets` Secret (preflight.py). `observe` GETs them too (their metadata only), so
a Secret deleted since the witness sends the run to the full path, which says so.
"""
from __future__ import annotations

import http.client
import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from portable.plan.resources import Observed
from portable.providers.kubernetes import naming
from portable.providers.kubernetes.drift import HINTS, desired_fields
from portable.providers.kubernetes.kinds import KINDS, MANAGED_KINDS
from portable.providers.kubernetes.kubeconfig import Login, Unhandled, candidates, resolve, ssl_context
from portable.providers.kubernetes.observed import observed_from

__all__ = ["HINTS", "Unread", "engine_for", "managed_of", "observe"]

#: the desired values of a Resource's managed fields, under the name plan/noop.py calls
managed_of = desired_fields

#: a Secret's metadata without its data (the check only asks whether it exists)
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


class Unread(Exception):
    """The apiserver could not be read this way; the caller takes the full path."""


def engine_for(provider: Any) -> dict[str, Any] | None:
    """How to reach the cluster a KubernetesProvider reaches, for the no-change check's witness
    (its SDK is loaded and connected already): the kubeconfig files, context, server,
    namespace, timeout and pull Secrets' names, and never a credential. None when this reader
    would not log in as the SDK did: in-cluster, a proxy, an SNI name, a login it does not read."""
    settings = provider.settings
    if settings.in_cluster:
        return None
    paths = candidates(settings.kubeconfig, os.environ)
    try:
        login = resolve(paths, settings.context, os.environ)
    except Exception:  # noqa: BLE001 - whatever this reader cannot read: no witness, the full path every time
        return None
    sdk = provider.kube.api.configuration
    same = (login.server == str(sdk.host).rstrip("/") and login.verify == bool(sdk.verify_ssl) and not sdk.proxy and not sdk.tls_server_name
            and (login.token is not None) == ("BearerToken" in sdk.api_key) and (login.cert is not None) == (sdk.cert_file is not None))
    if not same:
        return None
    return {
        "kubeconfig": paths,
        "context": settings.context,  # None: the kubeconfig's current-context, read again at check time
        "context_name": login.context,
        "server": login.server,
        "namespace": settings.namespace,  # None: the app's name (translate.namespace_of)
        "timeout": float(settings.request_timeout),
        "pull_secrets": list(settings.image_pull_secrets),
    }


def _login(engine: Mapping[str, Any]) -> Login:
    """The kubeconfig read now, as the full path would read it, and only if it still leads to the
    witnessed context and server (a `kubectl config use-context` since sends the run the full way)."""
    try:
        login = resolve(list(engine["kubeconfig"]), engine["context"], os.environ)
    except Exception as exc:  # noqa: BLE001 - Unhandled, a file gone, bad YAML: the SDK decides
        raise Unread(f"kubeconfig: {exc if isinstance(exc, Unhandled) else type(exc).__name__}") from None
    if login.context != engine["context_name"] or login.server != engine["server"]:
        raise Unread("another context or server than the witnessed one")
    return login


def _connection(login: Login, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(login.server)
    if parts.path not in ("", "/"):
        raise Unread("a server URL with a path")
    if parts.scheme == "http":
        return http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)
    try:
        context = ssl_context(login)
    except Exception as exc:  # noqa: BLE001 - a certificate that does not load: the SDK says why
        raise Unread(f"TLS: {type(exc).__name__}") from None
    return http.client.HTTPSConnection(parts.hostname or "", parts.port or 443, timeout=timeout, context=context)


def _get(conn: http.client.HTTPConnection, path: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
    try:
        conn.request("GET", path, headers=dict(headers))
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise Unread(f"GET {path.split('?')[0]}: {type(exc).__name__}") from None


def _list(conn: http.client.HTTPConnection, kind: str, namespace: str, selector: str, headers: Mapping[str, str]) -> list[Any]:
    info = KINDS[kind]
    path = f"{info.base()}/namespaces/{quote(namespace, safe='')}/{info.plural}?{urlencode({'labelSelector': selector})}"
    status, body = _get(conn, path, headers)
    if status != 200:
        raise Unread(f"list {info.plural}: HTTP {status}")
    try:
        data = json.loads(body)
    except ValueError:
        raise Unread(f"list {info.plural}: not JSON") from None
    items = (data.get("items") or []) if isinstance(data, dict) else None  # as Kube.list reads it
    if not isinstance(items, list):
        raise Unread(f"list {info.plural}: not a list answer")
    return items


def observe(engine: Mapping[str, Any], app: str) -> list[Observed]:
    """What `KubernetesProvider.observe` sees for `app`: the same list calls (one per managed
    kind, by the app's label selector, in its namespace), read by the same code (observed.py);
    and every pull Secret the plan's preflight looks for still there."""
    login = _login(engine)
    namespace = engine["namespace"] or app
    headers = {"Accept": "application/json"}
    if login.token is not None:
        headers["Authorization"] = f"Bearer {login.token}"
    conn = _connection(login, float(engine["timeout"]))
    try:
        selector = naming.app_selector(app)
        listed = [(kind, _list(conn, kind, namespace, selector, headers)) for kind in MANAGED_KINDS]
        for name in engine["pull_secrets"]:
            status, _ = _get(conn, f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets/{quote(name, safe='')}", {**headers, "Accept": METADATA_ONLY})
            if status != 200:
                raise Unread(f"pull Secret {name}: HTTP {status}")
    finally:
        conn.close()
    return observed_from(listed)
