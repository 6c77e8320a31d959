"""Builds a `build:` service on the local Docker engine and pushes it to a target's registry,
once per content hash: when `<registry>/<prefix>/<app>-<service>:<hash>` is already in the
registry, its digest is the answer and nothing is built.

The docker SDK is imported inside `build_and_push` (the engine is a build tool, not a target:
the core imports no SDK at module level). The engine is the one DOCKER_HOST names.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portable.delivery.context import context_hash
from portable.delivery.credentials import Login
from portable.delivery.image_build import follow_build
from portable.delivery.registry import RegistryClient
from portable.delivery.settings import ImageRegistry
from portable.errors import MissingExtraError, TargetError
from portable.manifest.app import App

Progress = Callable[[str], None]

# the docker provider's label keys (providers/docker/naming.py, which the core may not import):
# the engine that builds is a Docker engine, and an image there is found the way its containers are
LABEL_APP = "io.portable.app"
LABEL_SERVICE = "io.portable.service"
LABEL_TARGET = "io.portable.target"


def image_labels(app: App, service: str) -> dict[str, str]:
    """What a built image carries, as everything portable creates does: its app, service and
    the target whose plan built it (the same digest may then run on other targets too)."""
    return {LABEL_APP: app.name, LABEL_SERVICE: service, LABEL_TARGET: app.target_name}


def build_tag(app: App, service: str) -> str:
    """The content hash a service's image is tagged with (its context, Dockerfile, args, stage)."""
    build = app.services[service].build
    assert build is not None
    return context_hash(app.base_dir / build.context, build.dockerfile, build.args, build.target)


def build_and_push(app: App, service: str, registry: ImageRegistry, client: RegistryClient, login: Login | None, progress: Progress) -> tuple[str, str]:
    """(`repo:hash`, `repo@sha256:...`) of the service's image in the registry, built if missing."""
    repo = registry.repository(app.name, service)
    repository = repo.split("/", 1)[1]
    tag = build_tag(app, service)
    digest = client.manifest_digest(repository, tag)
    if digest is None:
        progress(f"building {repo}:{tag} for service {service}")
        _build(app, service, f"{repo}:{tag}", progress)
        progress(f"pushing {repo}:{tag}")
        _push(repo, tag, login, progress)
        digest = client.manifest_digest(repository, tag)
        if digest is None:
            raise TargetError(f"pushed {repo}:{tag} but registry {registry.server} does not list it")
    return f"{repo}:{tag}", f"{repo}@{digest}"


def _engine() -> Any:
    try:
        import docker
    except ImportError:
        raise MissingExtraError("building images needs the docker SDK", hint="pip install 'portable[docker]'") from None
    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        raise TargetError(f"the local Docker engine that builds images cannot be reached: {exc}", hint="start Docker or set DOCKER_HOST") from None


def _build(app: App, service: str, ref: str, progress: Progress) -> None:
    import docker

    build = app.services[service].build
    assert build is not None
    engine = _engine()
    try:
        stream = engine.api.build(path=str(app.base_dir / build.context), dockerfile=build.dockerfile, tag=ref, buildargs=dict(build.args) or None,
                                  target=build.target, labels=image_labels(app, service), rm=True, forcerm=True, decode=True)
        follow_build(stream, ref, service, progress)
    except docker.errors.DockerException as exc:
        raise TargetError(f"building image {ref} for service {service} failed: {exc}") from None


def _push(repo: str, tag: str, login: Login | None, progress: Progress) -> None:
    import docker

    from portable.engine.progress import PushMeter

    engine = _engine()
    auth = {"username": login[0], "password": login[1]} if login else None  # none: the engine's client config
    meter = PushMeter(progress, f"push {repo}:{tag}")  # bytes and rate in the live table; nothing in plain mode
    try:
        for chunk in engine.api.push(repo, tag=tag, stream=True, decode=True, auth_config=auth):
            if "error" in chunk:
                raise TargetError(f"pushing {repo}:{tag} failed: {chunk['error']}", hint="check the registry's login and that it accepts pushes")
            meter.saw(chunk)
        meter.close()
    except docker.errors.DockerException as exc:
        raise TargetError(f"pushing {repo}:{tag} failed: {exc}") from None
