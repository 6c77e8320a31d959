"""`portable promote --from staging --to prod`: deploy to one target exactly the digests that
run on another.

The digests come from the source target's current revision in the state store (every image of
a target with a registry `prefix` is pinned, so its resources name `host/repo@sha256:...`), not
from the manifest: a rebuilt or re-tagged image cannot slip in. The source must be healthy
(`status`: every service's healthy replicas at its desired count). When the destination
pushes to another registry (or prefix), each image is copied there by digest through the
registry API (the same bytes, so the same digest) before anything is deployed. The revision
it makes on the destination says which revision was promoted from where (`history`).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from portable.delivery.credentials import docker_config_login, registry_login
from portable.delivery.pin import pushing_registry
from portable.delivery.refs import ImageRef
from portable.delivery.registry import RegistryClient, RegistryError, copy_image
from portable.errors import InputError
from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.state.store import Revision, StateStore

PINNED = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}$")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Promotion:
    """What is promoted: the source revision and service -> digest reference on the destination."""

    source: str
    revision: int
    images: Mapping[str, str]

    @property
    def message(self) -> str:
        return f"promoted from {self.source} revision {self.revision}"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _running(app: App, resources: list[Resource]) -> dict[str, set[str]]:
    """service -> every `name@sha256:` reference its resources name."""
    found: dict[str, set[str]] = {}
    for res in resources:
        if res.service in app.services:
            found.setdefault(res.service, set()).update(s for s in _strings(res.spec) if PINNED.match(s))
    return found


def pinned_running(app: App, resources: list[Resource]) -> dict[str, str]:
    """service -> the digest reference it runs, for the services that run exactly one (what
    `migrate` pins; the others, on a target without a registry prefix, move as they are)."""
    return {name: next(iter(refs)) for name, refs in _running(app, resources).items() if len(refs) == 1}


def running_digests(app: App, resources: list[Resource]) -> dict[str, str]:
    """service -> the one `name@sha256:` reference its resources run; refused when a service
    runs no digest (its target has no registry prefix) or several."""
    found = _running(app, resources)
    out: dict[str, str] = {}
    for name in app.services:
        refs = found.get(name, set())
        if len(refs) != 1:
            why = "runs no image by digest" if not refs else f"runs several digests ({', '.join(sorted(refs))})"
            raise InputError(f"service {name} on target {app.target_name} {why}: only pinned images can be promoted",
                             hint=f"give targets.{app.target_name}.registry a prefix and deploy it again, so every image runs by digest")
        out[name] = refs.pop()
    return out


def check_healthy(source: App, statuses: list[Any]) -> None:
    sick = [f"{s.service} ({s.healthy}/{s.desired} healthy)" for s in statuses if s.healthy < s.desired]
    if sick:
        raise InputError(f"target {source.target_name} is not healthy, nothing was promoted: {', '.join(sick)}",
                         hint=f"see `portable status -t {source.target_name}`; promote once it is healthy")


def current_revision(store: StateStore, source: App) -> Revision:
    rev = store.current(source.name, source.target_name)
    if rev is None or rev.status != "deployed":
        raise InputError(f"app {source.name} is not deployed on target {source.target_name}: nothing to promote",
                         hint=f"deploy it there first: portable deploy -t {source.target_name}")
    return rev


def _client(app: App, host: str) -> RegistryClient:
    registry = pushing_registry(app)
    if registry is not None and registry.server == host:
        return RegistryClient(host, registry_login(registry, app.base_dir, app.env))
    return RegistryClient(host, docker_config_login(host, app.env))


def images_for(source: App, dest: App, running: Mapping[str, str], progress: Progress, *, copy: bool = True) -> dict[str, str]:
    """The references `dest` deploys: the running ones, copied by digest into the destination's
    registry when it pushes elsewhere (another server or prefix); with `copy=False` (a dry
    run) only the references the copy would make, nothing written."""
    registry = pushing_registry(dest)
    if registry is None:
        return dict(running)
    out: dict[str, str] = {}
    dest_client = _client(dest, registry.server)
    for service, ref in sorted(running.items()):
        parsed = ImageRef.parse(ref)
        assert parsed.digest is not None
        if parsed.host == registry.server and parsed.repository.startswith(f"{registry.prefix}/"):
            out[service] = ref
            continue
        if parsed.host is None:
            raise InputError(f"service {service} runs {ref}, which has no registry host to copy it from")
        target_repo = registry.repository(dest.name, service)
        out[service] = f"{target_repo}@{parsed.digest}"
        if not copy:
            continue
        progress(f"copying {ref} to {target_repo}")
        try:
            copy_image(_client(source, parsed.host), parsed.repository, dest_client, target_repo.split("/", 1)[1], parsed.digest,
                       progress=progress, transfer=f"image {service} -> {registry.server}")
        except RegistryError as exc:
            failing = dest if registry.server in exc.message else source  # whose registry field to check
            hint = exc.hint.replace("<target>", failing.target_name) if exc.hint else None
            raise InputError(f"copying the image of service {service} to {registry.server} failed: {exc.message}", hint=hint) from None
    return out


def check_pullable(source: App, dest: App, images: Mapping[str, str]) -> None:
    """Refuses, in one sentence, an image `dest` would pull from a registry that does not hold
    it (or cannot be reached): a destination that pushes nowhere pulls the source's digest
    from the source's registry."""
    for service, ref in sorted(images.items()):
        parsed = ImageRef.parse(ref)
        if parsed.host is None or parsed.digest is None:
            continue  # Docker Hub: no registry here to ask
        try:
            held = _client(source, parsed.host).manifest_digest(parsed.repository, parsed.digest) is not None
        except RegistryError as exc:
            hint = exc.hint.replace("<target>", source.target_name) if exc.hint else None
            raise InputError(f"target {dest.target_name} cannot pull {ref}, which service {service} runs on {source.target_name}: {exc.message}", hint=hint) from None
        if not held:
            raise InputError(f"target {dest.target_name} cannot pull {ref}, which service {service} runs on {source.target_name}: registry {parsed.host} no longer holds it",
                             hint=f"push it again, or give targets.{dest.target_name}.registry a prefix so the image is copied there")


def promotion(session: Any, source: str, dest: str, progress: Progress) -> Promotion:
    """Checks the source (deployed, healthy, every image pinned) and copies its images."""
    src_app = session.app(source)
    rev = current_revision(session.store(), src_app)
    running = running_digests(src_app, rev.resources)
    check_healthy(src_app, list(session.provider(source).status(src_app)))
    return Promotion(source, rev.number, images_for(src_app, session.app(dest), running, progress))


def promote(path: Any, source: str, dest: str, *, state: Any = None, env: Mapping[str, str] | None = None, progress: Progress = lambda _m: None,
            timeout: float = 300.0, parallelism: int | None = None, lock_wait: float = 30.0) -> tuple[Promotion, Any]:
    """Deploys to `dest` the digests running on `source`; returns the promotion and the DeployResult."""
    from portable import api

    if source == dest:
        raise InputError(f"--from and --to are both {source}: promote from one target to another")
    session = api._session(path, env, state)
    session.check_settings(dest)  # refused before any image is copied to its registry
    what = promotion(session, source, dest, progress)
    app, provider, desired = session.prepared(dest, images=what.images, progress=progress)
    result = api._apply_revision(app, provider, session.store(), desired, "deploy", progress, timeout, parallelism, message=what.message, lock_wait=lock_wait)
    return what, result
