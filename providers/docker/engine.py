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
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from portable.errors import InputError, PortableError, TransientError

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
