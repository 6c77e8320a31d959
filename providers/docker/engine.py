"""The docker SDK boundary: connecting to the engine and wrapping every call to it.

Every engine call in the provider goes through `engine_call` (or `retried` for calls worth
repeating), so SDK exception types are mapped once, by `errors.py`, by type and HTTP status,
each into one sentence naming the object and what to do.
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

from portable.engine.retry import retry_transient
from portable.errors import InputError, PortableError

from portable.providers.docker.errors import connect_error, map_error
from portable.providers.docker.settings import DockerSettings

T = TypeVar("T")


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


@retry_transient(attempts=5, max_seconds=60.0)  # a connection reset while connecting is retried; a wrong host is not
def connect(settings: DockerSettings, api_version: str | None = None) -> docker.DockerClient:
    """A client for the target's engine: `host` if set, else DOCKER_HOST / the local socket.

    `api_version`, the one an earlier client of this engine learned, spares the GET /version a
    new client otherwise starts with (one per apply thread: 0.3-0.5 s each on a loaded engine)."""
    host = settings.host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    timeout = int(settings.timeout)
    try:
        tls = _tls(settings, host)
        if tls is False:
            # ssh:// goes through the system ssh client, so ~/.ssh/config and agents just work
            plain = docker.DockerClient(base_url=host, timeout=timeout, use_ssh_client=host.startswith("ssh://"), version=api_version)
            retry_idempotent_requests(plain)
            return plain
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's own CA file
        # (psf/requests#3829) and would verify the engine against the wrong authorities, so
        # this client ignores the environment, and learns the API version once that is set
        client = docker.DockerClient(base_url=host, tls=tls, timeout=timeout, version=BOOTSTRAP_API_VERSION)
        client.api.trust_env = False
        client.api._version = api_version or client.api.version(api_version=False)["ApiVersion"]
        retry_idempotent_requests(client)
        return client
    except PortableError:
        raise
    except (docker_errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise connect_error(exc, host) from None


def describe_host(settings: DockerSettings) -> str:
    return settings.host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


@contextlib.contextmanager
def engine_call(doing: str) -> Iterator[None]:
    """Maps any SDK error raised inside to a portable error that says what was being done."""
    try:
        yield
    except (docker_errors.DockerException, requests.exceptions.RequestException, ConnectionError) as exc:
        raise map_error(exc, doing) from None


def retried(doing: str, call: Callable[[], T], attempts: int = 10) -> T:
    """Runs `call`, retrying transient engine failures with jittered exponential backoff.

    The retry budget, not the attempt count, is meant to be the bound: an engine behind a proxy
    that fails a third of the requests must still get through within it."""

    @retry_transient(attempts=attempts, max_seconds=60.0)  # the shared policy: backoff, jitter, the retry budget
    def attempt() -> T:
        with engine_call(doing):
            return call()

    return attempt()


def created_once(doing: str, create: Callable[[], T], find: Callable[[], T | None], attempts: int = 10) -> T:
    """`create()`, retried on transient failures only after `find()` shows that the earlier try
    (whose answer may have been lost after the engine acted) made nothing; what it finds is kept."""
    tries = 0

    @retry_transient(attempts=attempts, max_seconds=60.0)
    def attempt() -> T:
        nonlocal tries
        tries += 1
        if tries > 1:
            with engine_call(f"{doing} (looking for an earlier try's)"):
                found = find()
            if found is not None:
                return found
        with engine_call(doing):
            return create()

    return attempt()


def retry_idempotent_requests(client: docker.DockerClient) -> None:
    """Every request that changes nothing, or the same thing when repeated (GET, HEAD, PUT,
    DELETE), is retried at the HTTP layer on a dropped connection or a 429/5xx answer, with
    backoff and Retry-After; POSTs (creates, starts) are left to `retried`/`created_once`."""
    from urllib3.util.retry import Retry

    policy = Retry(total=6, connect=4, read=4, status=6, backoff_factor=0.3, backoff_max=4,
                   status_forcelist=(429, 500, 502, 503, 504), allowed_methods=frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}),
                   respect_retry_after_header=True, raise_on_status=False)
    for adapter in client.api.adapters.values():
        if hasattr(adapter, "max_retries"):
            adapter.max_retries = policy
