"""Pins every image of an app to a digest while planning, on targets that name a registry
with a `prefix`: `build:` services are built and pushed once per content hash, images named
by tag are resolved with a HEAD of their manifest. The App that comes out names every image
as `host/repository@sha256:...`, so what the plan shows is what runs, whatever a tag does
between `plan --out` and `deploy plan.json`.

Images named without a registry host (Docker Hub short names) are left as they are: they
are not pinned, and the plan lists only the images it pinned. Problems are located at the field that asks
(`targets.<t>.registry`, `services.<s>.image`): exit 2 before anything is created.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from portable.delivery.builder import build_and_push
from portable.delivery.credentials import docker_config_login, registry_login
from portable.delivery.refs import ImageRef
from portable.delivery.registry import RegistryClient, RegistryError
from portable.delivery.settings import ImageRegistry, target_registry
from portable.errors import InputError, ManifestError, Problem
from portable.manifest.app import App

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    return None


def pushing_registry(app: App) -> ImageRegistry | None:
    """The registry the app's target pushes to and deploys from by digest, or None."""
    try:
        registry = target_registry(app.target.settings)
    except ValueError:
        return None  # the provider's settings model reports it, located
    return registry if registry is not None and registry.pushes else None


def pin_images(app: App, *, overrides: Mapping[str, str] | None = None, progress: Progress = _quiet) -> App:
    """`app` with every service image pinned (see the module docstring); `overrides` (service ->
    digest reference, what `promote` deploys) take the place of the manifest's images."""
    registry = pushing_registry(app)
    if registry is None and not overrides:
        return app
    field = f"targets.{app.target_name}.registry"
    clients: dict[str, RegistryClient] = {}
    login = None
    try:
        if registry is not None:
            login = registry_login(registry, app.base_dir, app.env)
            clients[registry.server] = RegistryClient(registry.server, login)
            clients[registry.server].check()
        services = dict(app.services)
        pins: dict[str, dict[str, str]] = {}
        for name, svc in app.services.items():
            if overrides and name in overrides:
                ref = overrides[name]
                pins[name] = {"from": "promoted", "image": ref}
            elif svc.image is None and svc.build is not None and registry is not None:
                source, ref = build_and_push(app, name, registry, clients[registry.server], login, progress)
                pins[name] = {"from": source, "image": ref}
            elif svc.image is not None and registry is not None:
                parsed = ImageRef.parse(svc.image)
                if parsed.pinned or parsed.host is None:
                    continue
                client = clients.get(parsed.host)
                if client is None:
                    client = clients[parsed.host] = RegistryClient(parsed.host, docker_config_login(parsed.host, app.env))
                digest = client.manifest_digest(parsed.repository, parsed.tag or "latest")
                if digest is None:
                    raise ManifestError([Problem(f"services.{name}.image", f"image {svc.image} is not in registry {parsed.host}", hint="push it first, or check the name and tag")])
                ref = parsed.with_digest(digest)
                pins[name] = {"from": svc.image, "image": ref}
            else:
                continue
            services[name] = svc.model_copy(update={"image": pins[name]["image"], "build": None})
    except RegistryError as exc:
        raise ManifestError([Problem(field, exc.message, hint=exc.hint.replace("<target>", app.target_name) if exc.hint else None)]) from None
    except ManifestError:
        raise
    except InputError as exc:  # password_from unreadable
        raise ManifestError([Problem(f"{field}.password_from" if "password_from" in exc.message else field, exc.message, hint=exc.hint)]) from None
    manifest = app.manifest.model_copy(update={"services": services})
    return replace(app, manifest=manifest, images=pins)
