"""Turns Kubernetes API failures into portable errors: one sentence naming the object and field.

Classified by HTTP status and the Status object's reason/causes (what the API server
returns for every failure), never by matching message text.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from portable.errors import AuthError, NotFoundError, PortableError, TargetError, TransientError

FORCE_HINT = "another tool owns these fields; re-run with --force-conflicts (or set `force_conflicts: true` on the target) to take them over"


def _status(body: bytes | str | None) -> dict[str, Any]:
    if not body:
        return {}
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return {"message": (body.decode(errors="replace") if isinstance(body, bytes) else str(body))[:300]}
    return data if isinstance(data, dict) else {}


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _causes(status: dict[str, Any]) -> list[dict[str, Any]]:
    details = status.get("details") or {}
    return [c for c in details.get("causes") or [] if isinstance(c, dict)]


def map_http_error(code: int, body: bytes | str | None, headers: Mapping[str, str] | None, what: str, verb: str, source: str | None = None) -> PortableError:
    """The portable error for an API answer with HTTP `code` about `what` (e.g. "Deployment web in namespace shop").

    `source` says where the credentials came from (e.g. "context lab of kubeconfig /x"), for a 401."""
    status = _status(body)
    message = str(status.get("message") or "").strip() or f"HTTP {code}"
    causes = _causes(status)
    if code == 401:
        came_from = f" of {source}" if source else ""
        return AuthError(f"the Kubernetes API refused the credentials{came_from} while trying to {verb} {what}", hint="check the kubeconfig, context and token of this target")
    if code == 403:
        return AuthError(f"not allowed to {verb} {what}: {message}", hint="grant the target's user RBAC permission for this kind in the namespace")
    if code == 404:
        return NotFoundError(f"{what} was not found ({message})")
    if code == 409:
        conflicts = [c for c in causes if c.get("reason") == "FieldManagerConflict"]
        if conflicts:
            fields = ", ".join(f"{c.get('field', '?').lstrip('.')} ({c.get('message', 'conflict')})" for c in conflicts)
            return TargetError(f"cannot apply {what}: fields owned by another manager: {fields}", hint=FORCE_HINT)
        return TransientError(f"conflict while trying to {verb} {what}: {message}")
    if code == 422 or code == 400:
        if causes:
            # the same complaint about several fields (labels copied to the pod template) is said once
            by_message: dict[str, list[str]] = {}
            for c in causes:
                by_message.setdefault(str(c.get("message", "")), []).append(str(c.get("field") or c.get("reason", "?")))
            detail = "; ".join(f"{', '.join(fields)}: {msg}".strip() for msg, fields in by_message.items())
        else:
            detail = message
        return TargetError(f"Kubernetes rejected {what}: {detail}")
    if code == 429 or code >= 500:
        return TransientError(f"the Kubernetes API could not {verb} {what} right now (HTTP {code}: {message})", retry_after=_retry_after(headers))
    return TargetError(f"could not {verb} {what}: HTTP {code}: {message}")


def map_exception(exc: BaseException, what: str, verb: str, source: str | None = None) -> PortableError:
    """Maps an exception raised by the kubernetes SDK or urllib3 (by type) to a portable error."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(exc, PortableError):
        return exc
    if isinstance(exc, ApiException):
        if exc.status in (None, 0):
            return TransientError(f"cannot reach the Kubernetes API to {verb} {what}: {exc.reason}")
        return map_http_error(int(exc.status), exc.body, exc.headers, what, verb, source)
    if isinstance(exc, (HTTPError, OSError)):
        return TransientError(f"cannot reach the Kubernetes API to {verb} {what}: {exc.__class__.__name__}: {exc}")
    return TargetError(f"could not {verb} {what}: {exc}")
