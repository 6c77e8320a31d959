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
    client: docker.DockerClient, app: App, service: str, spec: Mapping[str, Any], pull: bool, progress: Callable[[str], None]
) -> None:
    # one inspect per replica, taken one after another under the tag's lock, is deliberate for
    # now: remembering the tag for the deploy let 20 creates hit Docker 20.10 at once, and under
    # load that burst left stale network endpoints that made destroy fail (issue 19 notes)
    tag = str(spec["image"])
    with _lock(tag):
        try:
            client.api.inspect_image(tag)
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
