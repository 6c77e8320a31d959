"""The docker SDK boundary: connecting to the engine and turning its errors into portable's.

Every engine call in the provider goes through `engine_call` (or `retried` for calls worth
repeating), so SDK exception types are mapped here, once, by type and HTTP status, each into
one sentence naming the object and what to do.
"""
from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import Callable, Iterator
from typing import TypeVar

import docker
import requests
from docker import errors as docker_errors
from docker.tls import TLSConfig
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from portable.errors import AuthError, InputError, NotFoundError, PortableError, TargetError, TransientError

from portable.providers.docker.settings import DockerSettings

T = TypeVar("T")
TRANSIENT_STATUS = {408, 429, 502, 503, 504}


BOOTSTRAP_API_VERSION = "1.25"  # used for one call only: asking the engine for its own version


def _tls(settings: DockerSettings, host: str) -> TLSConfig | bool:
    """TLS for tcp:// hosts from the target's settings, else DOCKER_TLS_VERIFY / DOCKER_CERT_PATH."""
    if not host.startswith(("tcp://", "https://")):
        return False
    cert_path = settings.cert_path or os.environ.get("DOCKER_CERT_PATH")
    verify = settings.tls_verify if settings.tls_verify is not None else bool(os.environ.get("DOCKER_TLS_VERIFY"))
    if not (cert_path or verify):
        return False
    files = {n: os.path.join(cert_path, n) for n in ("ca.pem", "cert.pem", "key.pem")} if cert_path else {}
    missing = [n for n, f in files.items() if not os.path.isfile(f) and (n != "ca.pem" or verify)]
    if missing:
        raise InputError(f"the TLS files for {host} are missing: {', '.join(missing)} in {cert_path}",
                         hint="set the target's cert_path (or DOCKER_CERT_PATH) to the directory holding them")
    return TLSConfig(
        client_cert=(files["cert.pem"], files["key.pem"]) if files else None,
        ca_cert=files.get("ca.pem") if verify else None,
        verify=verify,
    )


def connect(settings: DockerSettings) -> docker.DockerClient:
    """A client for the target's engine: `host` if set, else DOCKER_HOST / the local socket."""
    host = settings.host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    timeout = int(settings.timeout)
    try:
        tls = _tls(settings, host)
        if tls is False:
            # ssh:// goes through the system ssh client, so ~/.ssh/config and agents just work
            return docker.DockerClient(base_url=host, timeout=timeout, use_ssh_client=host.startswith("ssh://"))
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's own CA file
        # (psf/requests#3829) and would verify the engine against the wrong authorities, so
        # this client ignores the environment, and learns the API version once that is set
        client = docker.DockerClient(base_url=host, tls=tls, timeout=timeout, version=BOOTSTRAP_API_VERSION)
        client.api.trust_env = False
        client.api._version = client.api.version(api_version=False)["ApiVersion"]
        return client
    except PortableError:
        raise
    except (docker_errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise _connect_error(exc, host) from None


def _connect_error(exc: BaseException, host: str) -> PortableError:
    # the SDK wraps the transport failure of its first call; look at what it wraps, by type
    cause = exc.__context__ if isinstance(exc, docker_errors.DockerException) and exc.__context__ else exc
    if isinstance(cause, (requests.exceptions.SSLError, ssl.SSLError)):
        return AuthError(f"the TLS handshake with the Docker engine at {host} failed: {cause.__class__.__name__}",
                         hint="check tls_verify and cert_path (ca.pem, cert.pem, key.pem), or DOCKER_CERT_PATH")
    if isinstance(cause, (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError)):
        return TargetError(f"cannot reach the Docker engine at {host}",
                           hint="is dockerd running, and is DOCKER_HOST or the target's `host` right?")
    if isinstance(cause, requests.exceptions.Timeout):
        return TransientError(f"the Docker engine at {host} did not answer in time")
    if isinstance(exc, docker_errors.APIError):
        return map_error(exc, f"connecting to the Docker engine at {host}")
    return TargetError(f"cannot set up a Docker client for {host}: {exc}",
                       hint="check `host`, DOCKER_HOST, DOCKER_CERT_PATH")


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
