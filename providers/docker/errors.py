"""Docker SDK and transport errors mapped to portable errors, once, by type and HTTP status.

`engine.engine_call` (and `engine.retried`) wrap every engine call and raise what
`map_error` returns; `connect_error` does the same for setting up the client.
"""
from __future__ import annotations

import http.client
import ssl

import requests
import urllib3
from docker import errors as docker_errors

from portable.errors import AuthError, NotFoundError, PortableError, TargetError, TransientError

TRANSIENT_STATUS = {408, 429, 502, 503, 504}


def connect_error(exc: BaseException, host: str) -> PortableError:
    """One portable error for a failure to set up a client for, or first reach, the engine at `host`."""
    # the SDK wraps the transport failure of its first call; look at what it wraps, by type
    cause = exc.__context__ if isinstance(exc, docker_errors.DockerException) and exc.__context__ else exc
    if isinstance(cause, (requests.exceptions.SSLError, ssl.SSLError)):
        return AuthError(f"the TLS handshake with the Docker engine at {host} failed: {cause.__class__.__name__}",
                         hint="check tls_verify and cert_path (ca.pem, cert.pem, key.pem), or DOCKER_CERT_PATH")
    status = getattr(getattr(cause, "response", None), "status_code", None)
    if isinstance(cause, requests.exceptions.HTTPError) and isinstance(status, int) and (status in TRANSIENT_STATUS or status >= 500):
        return TransientError(f"the Docker engine at {host} is busy (HTTP {status} while connecting)")
    if dropped(cause):  # it answered, then the connection broke: a flaky link, worth retrying
        return TransientError(f"the connection to the Docker engine at {host} broke while connecting ({cause.__class__.__name__})")
    if isinstance(cause, (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError)):
        return TargetError(f"cannot reach the Docker engine at {host}",
                           hint="is dockerd running, and is DOCKER_HOST or the target's `host` right?")
    if isinstance(cause, requests.exceptions.Timeout):
        return TransientError(f"the Docker engine at {host} did not answer in time")
    if isinstance(exc, docker_errors.APIError):
        return map_error(exc, f"connecting to the Docker engine at {host}")
    return TargetError(f"cannot set up a Docker client for {host}: {exc}",
                       hint="check `host`, DOCKER_HOST, DOCKER_CERT_PATH")


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps (args, cause, context), a bounded walk."""
    out: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(out) < 40:
        e = todo.pop()
        out.append(e)
        todo.extend(a for a in e.args if isinstance(a, BaseException))
        todo.extend(c for c in (e.__cause__, e.__context__) if c is not None and c is not e)
    return out


def dropped(exc: BaseException) -> bool:
    """True when the engine was reached but the connection was reset or closed before its answer
    (requests wraps that as ConnectionError(ProtocolError("Connection aborted.", reset))).

    urllib3 wraps a unix socket that does not exist, or a refused connection, the same way
    (ProtocolError("Connection aborted.", FileNotFoundError)): the engine was never reached
    there, which is permanent ("cannot reach"), not a dropped connection worth retrying."""
    chain = _chain(exc)
    if any(isinstance(e, (FileNotFoundError, ConnectionRefusedError, PermissionError)) for e in chain):
        return False
    return any(isinstance(e, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.RemoteDisconnected, urllib3.exceptions.ProtocolError))
               for e in chain)


def map_error(exc: BaseException, doing: str) -> PortableError:
    """One portable error, in one sentence, for an SDK or transport failure while `doing`."""
    if isinstance(exc, PortableError):
        return exc
    if isinstance(exc, docker_errors.NotFound):
        return NotFoundError(f"{doing}: {_explanation(exc)}")
    if isinstance(exc, docker_errors.APIError):
        status = exc.status_code or 0
        text = _explanation(exc)
        if status == 401:
            return AuthError(f"{doing}: the engine refused the credentials ({text})")
        if status == 403:  # the engine forbids the operation (e.g. a network still in use), not a login problem
            return TargetError(f"{doing}: the engine refused ({text})")
        if status in TRANSIENT_STATUS:
            return TransientError(f"{doing}: the engine is busy ({text})")
        if "port is already allocated" in text or "address already in use" in text:
            return TargetError(
                f"{doing}: a host port it publishes is already taken ({text})",
                hint="stop what uses that port or change `published:` in the manifest",
            )
        if status == 500 and not _engine_message(exc):
            # the engine words its own 500s as JSON {"message": ...}; a bare 500 page came from
            # something in between (a proxy, a restarting daemon) and is worth retrying
            return TransientError(f"{doing}: the engine could not answer right now (HTTP 500: {text})")
        return TargetError(f"{doing}: {text}")
    if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError)):
        # the engine answered when the client was set up (connect_error handles a wrong host), so
        # a connection lost now (reset, refused while it restarts, a link down) is worth retrying
        return TransientError(f"{doing}: lost the connection to the Docker engine ({exc.__class__.__name__})",
                              hint="is dockerd running, and is DOCKER_HOST or the target's `host` right?")
    if isinstance(exc, requests.exceptions.Timeout):
        return TransientError(f"{doing}: the engine did not answer in time")
    if isinstance(exc, docker_errors.DockerException):
        return TargetError(f"{doing}: {exc}")
    raise exc


def _engine_message(exc: docker_errors.APIError) -> bool:
    """True when the answer is the engine's own JSON error ({"message": ...})."""
    response = exc.response
    if response is None:
        return True
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


def _explanation(exc: docker_errors.APIError) -> str:
    text = exc.explanation
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return str(text or exc).strip()
