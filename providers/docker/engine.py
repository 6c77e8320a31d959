"""The docker SDK boundary: connecting to the engine and turning its errors into portable's.

Every engine call in the provider goes through `engine_call` (or `retried` for calls worth
repeating), so SDK exception types are mapped here, once, by type and HTTP status, each into
one sentence naming the object and what to do.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TypeVar

import docker
import requests
from docker import errors as docker_errors
from docker.tls import TLSConfig
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from portable.errors import AuthError, NotFoundError, PortableError, TargetError, TransientError

from portable.providers.docker.settings import DockerSettings

T = TypeVar("T")
TRANSIENT_STATUS = {408, 429, 502, 503, 504}


def connect(settings: DockerSettings) -> docker.DockerClient:
    """A client for the target's engine: `host` if set, else DOCKER_HOST / the local socket."""
    host = settings.host
    try:
        if host is None:
            return docker.from_env(timeout=int(settings.timeout))
        tls: TLSConfig | bool = False
        if host.startswith(("tcp://", "https://")):
            cert_path = settings.cert_path or os.environ.get("DOCKER_CERT_PATH")
            verify = settings.tls_verify
            if verify is None:
                verify = bool(os.environ.get("DOCKER_TLS_VERIFY"))
            if cert_path or verify:
                files = {n: os.path.join(cert_path, n) for n in ("ca.pem", "cert.pem", "key.pem")} if cert_path else {}
                tls = TLSConfig(
                    client_cert=(files["cert.pem"], files["key.pem"]) if files else None,
                    ca_cert=files.get("ca.pem") if verify else None,
                    verify=verify,
                )
        # ssh:// goes through the system ssh client, so ~/.ssh/config and agents just work
        return docker.DockerClient(
            base_url=host, tls=tls, timeout=int(settings.timeout), use_ssh_client=host.startswith("ssh://")
        )
    except docker_errors.DockerException as exc:
        # the SDK asks the engine for its API version while connecting; a transport failure
        # there (its __context__) means the engine is not reachable at that address
        if isinstance(exc.__context__, (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError)):
            raise TargetError(
                f"cannot reach the Docker engine at {describe_host(settings)}",
                hint="is dockerd running, and is DOCKER_HOST or the target's `host` right?",
            ) from None
        if isinstance(exc.__context__, requests.exceptions.Timeout):
            raise TransientError(f"the Docker engine at {describe_host(settings)} did not answer in time") from None
        raise TargetError(
            f"cannot set up a Docker client for {host or 'the local engine'}: {exc}",
            hint="check `host`, DOCKER_HOST, DOCKER_CERT_PATH",
        ) from None


def describe_host(settings: DockerSettings) -> str:
    return settings.host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def map_error(exc: BaseException, doing: str) -> PortableError:
    """One portable error, in one sentence, for an SDK or transport failure while `doing`."""
    if isinstance(exc, PortableError):
        return exc
    if isinstance(exc, docker_errors.NotFound):
        return NotFoundError(f"{doing}: {_explanation(exc)}")
    if isinstance(exc, docker_errors.APIError):
        status = exc.status_code or 0
        text = _explanation(exc)
        if status in (401, 403):
            return AuthError(f"{doing}: the engine refused the credentials ({text})")
        if status in TRANSIENT_STATUS:
            return TransientError(f"{doing}: the engine is busy ({text})")
        if "port is already allocated" in text or "address already in use" in text:
            return TargetError(
                f"{doing}: a host port it publishes is already taken ({text})",
                hint="stop what uses that port or change `published:` in the manifest",
            )
        return TargetError(f"{doing}: {text}")
    if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError)):
        return TargetError(f"{doing}: cannot reach the Docker engine ({exc.__class__.__name__})",
                           hint="is dockerd running, and is DOCKER_HOST or the target's `host` right?")
    if isinstance(exc, requests.exceptions.Timeout):
        return TransientError(f"{doing}: the engine did not answer in time")
    if isinstance(exc, docker_errors.DockerException):
        return TargetError(f"{doing}: {exc}")
    raise exc


def _explanation(exc: docker_errors.APIError) -> str:
    text = exc.explanation
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return str(text or exc).strip()


@contextlib.contextmanager
def engine_call(doing: str) -> Iterator[None]:
    """Maps any SDK error raised inside to a portable error that says what was being done."""
    try:
        yield
    except (docker_errors.DockerException, requests.exceptions.RequestException, ConnectionError) as exc:
        raise map_error(exc, doing) from None


def retried(doing: str, call: Callable[[], T], attempts: int = 5) -> T:
    """Runs `call`, retrying transient engine failures with jittered exponential backoff."""

    @retry(
        retry=retry_if_exception_type(TransientError),
        wait=wait_random_exponential(multiplier=0.5, max=8),
        stop=stop_after_attempt(attempts),
        reraise=True,
    )
    def attempt() -> T:
        with engine_call(doing):
            return call()

    return attempt()
