"""Settings of a `docker` target, validated while the manifest is loaded.

Only pydantic is imported here: manifests are validated on machines without the docker SDK.
The built-in `local` target is a docker target with every field at its default.
"""
from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

from portable.delivery.settings import ImageRegistry

DEFAULT_PROXY_IMAGE = "basecamp/kamal-proxy:v0.9.2"


def _default_proxy_image() -> str:
    return os.environ.get("PORTABLE_PROXY_IMAGE") or DEFAULT_PROXY_IMAGE


class DockerSettings(BaseModel):
    """Where the Docker engine is and how portable lays an app out on it."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(
        None,
        description="engine address: unix:///path, tcp://host:2376 or ssh://user@host; "
        "default: DOCKER_HOST, else the local socket",
    )
    tls_verify: bool | None = Field(
        None, description="verify the engine's TLS certificate (tcp hosts); default: DOCKER_TLS_VERIFY"
    )
    cert_path: str | None = Field(
        None, description="directory with ca.pem, cert.pem and key.pem for TLS; default: DOCKER_CERT_PATH"
    )
    network: str | None = Field(None, description="name of the app's network (default: the app's name)")
    proxy: bool = Field(
        True,
        description="put a front proxy on public http ports so updates never drop a request; "
        "false publishes the container port directly (stop-first updates)",
    )
    proxy_image: str = Field(
        default_factory=_default_proxy_image,
        description="kamal-proxy image for the front proxy (default: PORTABLE_PROXY_IMAGE or "
        f"{DEFAULT_PROXY_IMAGE})",
    )
    bind_address: str = Field(
        "0.0.0.0", description="host address public ports are published on (127.0.0.1 for this machine only)"
    )
    pull: bool = Field(True, description="pull images that are not on the engine yet")
    registry: ImageRegistry | None = Field(
        None, description="with `prefix`: `build:` services are pushed there (host/prefix/<app>-<service>) and every image runs by digest, as on the other targets"
    )
    timeout: float = Field(60.0, gt=0, description="seconds to wait for one engine API call")
