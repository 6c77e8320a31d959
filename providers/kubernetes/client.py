"""A thread-safe connection to one cluster: kubeconfig/in-cluster login and generic REST verbs.

Objects are handled as plain dicts through the official client's ApiClient (auth, TLS,
connection pool) with a static table of the kinds portable manages (kinds.py): no discovery
round trips, the same code path for every kind, and server-side apply for all of them.
Transient failures are retried with exponential backoff and jitter, honouring Retry-After.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any
from urllib.parse import quote

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from portable.engine import cancel
from portable.engine.retry import budgeted, marked, stop_after_budget
from portable.errors import AuthError, InputError, TransientError
from portable.providers.kubernetes.errors import map_exception, map_http_error
from portable.providers.kubernetes.kinds import EXTRA_KINDS, KINDS, KindInfo
from portable.providers.kubernetes.kinds import MANAGED_KINDS as MANAGED_KINDS  # re-exported: where callers have always found it
from portable.providers.kubernetes.naming import FIELD_MANAGER
from portable.providers.kubernetes.settings import KubernetesSettings


def describe(kind: str, name: str, namespace: str | None) -> str:
    return f"{kind} {name}" + (f" in namespace {namespace}" if namespace else "")


def _retryable(stop_seconds: float = 30.0) -> Any:
    def wait(state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        return min(float(after), 30.0) if after else wait_random_exponential(multiplier=0.3, max=5)(state)

    policy = retry(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(6) | stop_after_budget(stop_seconds),  # and PORTABLE_RETRY_BUDGET
        wait=wait,
        sleep=cancel.pause,  # a backoff inside an apply ends on Ctrl-C
        reraise=True,
    )
    return lambda fn: budgeted(policy(marked(fn)))  # tries tell the run's outage clock whether the apiserver answered


class Kube:
    """Lazily connects on first use; safe to share between the engine's apply threads."""

    def __init__(self, settings: KubernetesSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._api: Any = None

    # -- connection -----------------------------------------------------------------------

    @property
    def credential_source(self) -> str:
        """Where this target's credentials come from, for errors (names and paths, never values)."""
        s = self.settings
        if s.in_cluster:
            return "the pod's service account"
        path = s.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        return f"context {s.context or '(current)'} of kubeconfig {path}"

    @property
    def api(self) -> Any:
        with self._lock:
            if self._api is None:
                self._api = self._connect()
            return self._api

    def _connect(self) -> Any:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        cfg = client.Configuration()
        s = self.settings
        try:
            if s.in_cluster:
                config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            else:
                path = os.path.expanduser(s.kubeconfig) if s.kubeconfig else None
                if path is not None and not os.path.isfile(path):
                    raise InputError(f"kubeconfig {path} does not exist", hint="set `kubeconfig:` on the target to an existing file")
                config.load_kube_config(config_file=path, context=s.context, client_configuration=cfg, persist_config=False)  # type: ignore[no-untyped-call]
        except ConfigException as exc:
            raise AuthError(f"cannot load Kubernetes credentials: {exc}", hint="check `kubeconfig:`/`context:` of the target (or KUBECONFIG)") from None
        cfg.connection_pool_maxsize = 64  # one connection per parallel apply thread
        return client.ApiClient(cfg)

    @property
    def host(self) -> str:
        return str(self.api.configuration.host)

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    # -- generic verbs --------------------------------------------------------------------

    @staticmethod
    def info(kind: str) -> KindInfo:
        return KINDS.get(kind) or EXTRA_KINDS[kind]

    def path(self, kind: str, namespace: str | None, name: str | None = None) -> str:
        info = self.info(kind)
        out = info.base()
        if info.namespaced and namespace:
            out += f"/namespaces/{quote(namespace, safe='')}"
        out += f"/{info.plural}"
        return out + (f"/{quote(name, safe='')}" if name else "")

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        verb: str,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One HTTP call; returns the decoded JSON answer or raises a portable error."""

        @_retryable()  # type: ignore[untyped-decorator]
        def call() -> dict[str, Any]:
            headers = {"Accept": "application/json", "Content-Type": content_type}
            try:
                m, url, hdrs, data_in, _ = self.api.param_serialize(
                    method, path, query_params=list((query or {}).items()), header_params=headers, body=body,
                    auth_settings=["BearerToken"],
                )
                resp = self.api.call_api(m, url, hdrs, data_in, _request_timeout=timeout or self.settings.request_timeout)
                resp.read()
                data = resp.data
            except Exception as exc:  # noqa: BLE001 - mapped by type in map_exception
                raise map_exception(exc, what, verb, self.credential_source) from None
            if not 200 <= resp.status <= 299:
                raise map_http_error(resp.status, data, dict(resp.getheaders() or {}), what, verb, self.credential_source)
            decoded: dict[str, Any] = json.loads(data) if data else {}
            return decoded

        result: dict[str, Any] = call()
        return result

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        from portable.errors import NotFoundError

        try:
            return self.request("GET", self.path(kind, namespace, name), what=describe(kind, name, namespace), verb="read")
        except NotFoundError:
            return None

    def list(self, kind: str, namespace: str | None, selector: str | None = None, field_selector: str | None = None) -> list[dict[str, Any]]:
        query = {}
        if selector:
            query["labelSelector"] = selector
        if field_selector:
            query["fieldSelector"] = field_selector
        what = f"{self.info(kind).plural}" + (f" in namespace {namespace}" if namespace else "")
        data = self.request("GET", self.path(kind, namespace), what=what, verb="list", query=query)
        return list(data.get("items") or [])

    def apply(self, obj: dict[str, Any], *, force: bool) -> dict[str, Any]:
        """Server-side apply of `obj` as field manager `portable`."""
        kind, meta = obj["kind"], obj["metadata"]
        query = {"fieldManager": FIELD_MANAGER}
        if force:
            query["force"] = "true"
        return self.request(
            "PATCH",
            self.path(kind, meta.get("namespace"), meta["name"]),
            what=describe(kind, meta["name"], meta.get("namespace")),
            verb="apply",
            query=query,
            body=obj,
            content_type="application/apply-patch+yaml",
        )

    def delete(self, kind: str, namespace: str | None, name: str, *, propagation: str = "Foreground") -> bool:
        """Deletes one object; False when it was already gone."""
        from portable.errors import NotFoundError

        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        try:
            self.request("DELETE", self.path(kind, namespace, name), what=describe(kind, name, namespace), verb="delete", body=body)
        except NotFoundError:
            return False
        return True

    def version(self) -> dict[str, Any]:
        return self.request("GET", "/version", what="the API server version", verb="read")

    def raw(self, path: str, *, what: str, query: dict[str, str] | None = None, timeout: float | None = None) -> Any:
        """GET returning the unread urllib3 response (pod logs, possibly followed)."""
        try:
            m, url, hdrs, _, _ = self.api.param_serialize(
                "GET", path, query_params=list((query or {}).items()), header_params={"Accept": "*/*"}, auth_settings=["BearerToken"]
            )
            resp = self.api.call_api(m, url, hdrs, None, _request_timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - mapped by type in map_exception
            raise map_exception(exc, what, "read", self.credential_source) from None
        if not 200 <= resp.status <= 299:
            resp.read()
            raise map_http_error(resp.status, resp.data, dict(resp.getheaders() or {}), what, "read", self.credential_source)
        return resp.response
