"""Libcloud's exceptions mapped to portable errors, once, by type (and HTTP status).

Every libcloud call goes through `connect.call`, which uses `map_error`; a failure reaches
the user as one sentence saying what could not be done and what to check.
"""
from __future__ import annotations

import socket
import ssl

from libcloud.common.exceptions import BaseHTTPError, RateLimitReachedError
from requests.exceptions import ChunkedEncodingError, ConnectionError as RequestsConnectionError, Timeout as RequestsTimeout
from libcloud.common.types import InvalidCredsError, LibcloudError, MalformedResponseError, ProviderError

from portable.errors import AuthError, NotFoundError, PortableError, TargetError, TransientError


def map_error(exc: BaseException, action: str, what: str) -> PortableError:
    """One sentence for a libcloud failure, chosen by exception type and HTTP status."""
    if isinstance(exc, PortableError):
        return exc
    value = getattr(exc, "value", None) if isinstance(exc, LibcloudError) else None  # its str() is a repr naming the driver object
    detail = getattr(exc, "message", None) or (value if isinstance(value, str) else None) or str(exc) or type(exc).__name__
    if isinstance(exc, InvalidCredsError):
        return AuthError(f"the cloud refused the credentials to {action} {what}: {detail}", hint="check the key/secret in the environment or credentials_file")
    if isinstance(exc, RateLimitReachedError):
        return TransientError(f"the cloud is throttling requests to {action} {what}", retry_after=float(getattr(exc, "retry_after", 0) or 0) or None)
    code = getattr(exc, "code", None) if isinstance(exc, BaseHTTPError) else getattr(exc, "http_code", None) if isinstance(exc, ProviderError) else None
    if isinstance(code, int):
        if code in (401, 403):
            return AuthError(f"the cloud refused to {action} {what} (HTTP {code}): {detail}", hint="check the credentials and their permissions")
        if code == 404:
            return NotFoundError(f"could not {action} {what}: not found (HTTP 404): {detail}")
        if code == 429 or code >= 500:
            return TransientError(f"the cloud could not {action} {what} right now (HTTP {code})")
        return TargetError(f"could not {action} {what} (HTTP {code}): {detail}")
    # requests' own connection errors (libcloud talks through requests) are not the builtin ones: a reset, an aborted answer
    if isinstance(exc, (socket.timeout, TimeoutError, ConnectionError, ssl.SSLError, RequestsConnectionError, RequestsTimeout, ChunkedEncodingError)):
        return TransientError(f"could not reach the cloud to {action} {what}: {detail}")
    if isinstance(exc, MalformedResponseError):  # mostly an error page (a 429/5xx from something in between): retried, bounded
        return TransientError(f"the cloud's answer to {action} {what} could not be parsed: {detail[:200]}")
    if isinstance(exc, (LibcloudError, ValueError)):
        return TargetError(f"could not {action} {what}: {detail}")
    return TargetError(f"could not {action} {what}: {type(exc).__name__}: {detail}")
