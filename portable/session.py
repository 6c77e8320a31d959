"""One command's session: the manifest parsed once, bound to each target it touches, each
provider and the state store opened once.

Every verb of the API (and so of the CLI) works through a Session, so a migration, which
touches two targets, a plan, a deploy and a destroy, reads and validates the manifest a
single time, and an interactive `deploy` applies the very plan it showed.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Union

from portable.errors import ManifestError, Problem
from portable.manifest import App, LoadedManifest, bind_app, parse_file
from portable.manifest.target_check import check_settings, check_target, target_problems
from portable.plan.resources import Resource
from portable.state import StateStore, open_store

if TYPE_CHECKING:  # the providers package is imported only when a target is used
    from portable.providers.base import Provider

PathLike = Union[str, Path]


def open_provider(app: App) -> Provider:
    """The provider for the app's target, with validated settings (imports its SDK now)."""
    from portable.providers.registry import provider_class, settings_model

    cls = provider_class(app.target.provider)
    settings = settings_model(app.target.provider).model_validate(app.target.settings)
    return cls(app.target_name, settings)


class Session:
    """The manifest of one command, with the apps, providers and state store it needs."""

    def __init__(self, loaded: LoadedManifest, *, env: Mapping[str, str] | None = None, state: PathLike | StateStore | None = None) -> None:
        self.loaded = loaded
        self.env = env
        self._state = state
        self._apps: dict[str, App] = {}
        self._providers: dict[str, Provider] = {}
        self._store: StateStore | None = state if state is not None and not isinstance(state, (str, Path)) else None

    @classmethod
    def open(cls, path: PathLike | Session, *, env: Mapping[str, str] | None = None, state: PathLike | StateStore | None = None) -> Session:
        """A session for the manifest at `path` (read and validated now); a Session is reused."""
        if isinstance(path, Session):
            if state is not None and path._state is None and path._store is None:
                path._state = state
                path._store = state if not isinstance(state, (str, Path)) else None
            return path
        return cls(parse_file(path, env), env=env, state=state)

    @property
    def path(self) -> Path:
        return Path(self.loaded.path)

    def app(self, target: str) -> App:
        """The manifest bound to `target`, overrides merged (bound once per target)."""
        if target not in self._apps:
            app = bind_app(self.loaded, target, self.env)
            # secret digests are keyed by the app's key in the state store, opened only
            # when a digest is first needed (plan, deploy, migrate; never `render`)
            self._apps[target] = replace(app, digest_key=lambda: self.store().app_key(app.name))
        return self._apps[target]

    def unkeyed_app(self, target: str) -> App:
        """The app without a digest key, for what writes files and opens no state (`render`)."""
        return replace(self.app(target), digest_key=None)

    def provider(self, target: str) -> Provider:
        """The target's provider, opened once (its SDK is imported now)."""
        if target not in self._providers:
            self._providers[target] = open_provider(self.app(target))
        return self._providers[target]

    def store(self) -> StateStore:
        """The state store: --state, or .portable/state.db beside the manifest."""
        if self._store is None:
            state = self._state
            self._store = open_store(state if isinstance(state, (str, Path)) else None, self.path.resolve())
        return self._store

    def capability_problems(self, target: str) -> list[Problem]:
        """What the manifest asks of `target` that it cannot do, located at the field that asks."""
        return target_problems(self.loaded, self.app(target), self.provider(target))

    def check_settings(self, target: str) -> None:
        """What `target`'s settings refuse (exit 2), before anything is built, pushed or copied."""
        from portable.scale import scaled

        check_settings(self.loaded, scaled(self.app(target), self.store()), self.provider(target))

    def prepared(self, target: str, *, images: Mapping[str, str] | None = None, progress: Callable[[str], None] | None = None) -> tuple[App, Provider, list[Resource]]:
        """App, provider and desired resources, after every check that needs no change:
        secrets readable, capabilities present, and the provider's read-only preflight
        (what its apply will read or look up: registry passwords, images, key pairs, zones),
        so bad input fails with exit 2 before the first create.

        On a target whose registry has a `prefix`, `build:` services are built and pushed
        here and every image is pinned to its digest (portable.delivery.pin); `images`
        (service -> digest reference, from `promote`) replace the manifest's."""
        app = self.app(target)
        app.check_secrets()
        from portable.check import enforce, policy_for  # security policy: error findings stop planning (exit 2)

        enforce(self.loaded, app, policy_for(self.path, self.env))
        provider = self.provider(target)
        self.check_settings(target)  # before pin_images builds and pushes anything
        from portable.delivery.pin import pin_images

        try:
            app = pin_images(app, overrides=images, progress=progress or (lambda _m: None))
        except ManifestError as exc:
            raise ManifestError(self.loaded.locate(target, exc.problems)) from None
        self._apps[target] = app  # status, history and a rollback in this session see the pinned images
        from portable.scale import scaled

        app = self._apps[target] = scaled(app, self.store())  # replicas set by `portable scale` (portable.scale)
        check_target(self.loaded, app, provider)  # file:line:col of the field that asks
        desired = provider.translate(app)
        try:
            provider.preflight(app)
        except ManifestError as exc:  # a settings field: give it its file:line:column
            raise ManifestError(self.loaded.locate(target, exc.problems)) from None
        return app, provider, desired
