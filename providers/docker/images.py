"""Makes a replica's image present on the engine: built from its context, or pulled.

`build:` images are tagged `<app>/<service>:<content hash>` (see portable/delivery/context.py), so an
image with that tag already present is exactly the one wanted and is never rebuilt.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import docker

from portable.delivery.image_build import follow_build
from portable.errors import NotFoundError, TargetError
from portable.manifest.app import App

from portable.providers.docker import naming
from portable.providers.docker.engine import engine_call, retried

_locks_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}


def _lock(tag: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(tag, threading.Lock())


def ensure_image(
    client: docker.DockerClient, app: App, service: str, spec: Mapping[str, Any], pull: bool, progress: Callable[[str], None],
    present: set[str] | None = None,
) -> None:
    """`present`: tags this run already found or made on the engine. 20 replicas of one image
    then cost one inspect, not 20 taken one after another under the tag's lock (which spread
    the creates over a second on a loaded engine; docker compose sends them all at once).
    5710267 had gone back to one inspect per replica, blaming the burst of creates for a stale
    endpoint that made a later destroy fail: the same stale endpoint count (Docker 20.10's,
    network inspect shows no endpoint, only a daemon restart frees it) came with one inspect
    per replica too, and to compose's networks."""
    tag = str(spec["image"])
    with _lock(tag):
        if present is not None and tag in present:
            return
        try:
            client.api.inspect_image(tag)
            if present is not None:
                present.add(tag)
            return
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            with engine_call(f"looking up image {tag}"):
                raise exc
        if spec.get("build"):
            _build(client, app, service, tag, spec["build"], progress)
        elif pull:
            _pull(client, service, tag, progress)
        else:
            raise NotFoundError(
                f"image {tag} of service {service} is not on the engine and the target does not pull",
                hint="load or build it first, or set `pull: true` on the target",
            )
        if present is not None:
            present.add(tag)


def _build(client: docker.DockerClient, app: App, service: str, tag: str, build: Mapping[str, Any], progress: Callable[[str], None]) -> None:
    context = app.base_dir / str(build["context"])
    progress(f"building {tag} from {context}")
    # as everything portable creates: the app, service and the target whose plan built it
    labels = {naming.LABEL_APP: app.name, naming.LABEL_SERVICE: service, naming.LABEL_TARGET: app.target_name}
    with engine_call(f"building image {tag} for service {service}"):
        stream = client.api.build(
            path=str(context), dockerfile=build["dockerfile"], tag=tag, buildargs=dict(build["args"]) or None, target=build.get("target"),
            labels=labels, rm=True, forcerm=True, decode=True,
        )
        follow_build(stream, tag, service, progress)


def _pull(client: docker.DockerClient, service: str, tag: str, progress: Callable[[str], None]) -> None:
    progress(f"pulling {tag}")
    who = "the front proxy (the target's proxy_image)" if service == "front proxy" else f"service {service}"

    def go() -> None:
        # the SDK splits `repo:tag` and `repo@digest` itself; no tag means latest
        for chunk in client.api.pull(tag, stream=True, decode=True):
            if "error" in chunk:
                raise TargetError(f"pulling image {tag} for {who} failed: {chunk['error']}",
                                  hint="check the image name and that the engine can reach its registry")

    try:
        retried(f"pulling image {tag} for {who}", go, attempts=3)
    except NotFoundError:
        raise NotFoundError(f"image {tag} for {who} does not exist in its registry",
                            hint="check the target's proxy_image" if service == "front proxy" else f"check services.{service}.image") from None
