"""`App`: a validated manifest bound to one target, the unit every provider works on.

It also resolves secret values, on demand and only for the provider that writes them into
the target's own secret mechanism; nothing else in portable ever holds a secret's value.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from portable.errors import InputError
from portable.manifest.interpolate import read_dotenv
from portable.manifest.model import Manifest, Service, Target

LOCAL_TARGET = "local"
# what `secret_digest` answers for an App bound without a digest key (`render`, pure unit
# translation): nothing derived from the value, so rendered files hold nothing to guess at
UNKEYED_DIGEST = "unkeyed"


@dataclass(frozen=True)
class App:
    """One application as it should run on one target."""

    manifest: Manifest
    path: Path
    target_name: str
    target: Target
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False, compare=False)
    # volume name -> archives ({"url", "sha256", "key", "phase"}) to apply in order before the
    # services start: set by migrate/restore; providers that restore in translate read it
    restores: Mapping[str, Sequence[Mapping[str, str]]] = field(default_factory=dict, compare=False)
    # the per-app key of secret digests (HMAC), read when first needed: the session binds it
    # to the state store's `app_key`, so every engineer and CI job sharing a store agrees
    digest_key: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)
    # service -> {"from": tag or build, "image": host/repo@sha256:...}: the images pinned while
    # planning on a target that pushes (portable.delivery.pin); the plan shows them
    images: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return self.manifest.metadata.name

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def services(self) -> dict[str, Service]:
        return self.manifest.services

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.manifest.metadata.labels)

    @property
    def settings(self) -> dict[str, Any]:
        return self.target.settings

    def services_mounting(self, volume: str) -> list[str]:
        """The services that mount `volume`, in manifest order (the first one's copy is read)."""
        return [name for name, svc in self.services.items() if any(m.volume == volume for m in svc.volumes)]

    @cached_property
    def served_services(self) -> tuple[str, ...]:
        """The services with ports, sorted: the peers every VM group is told of. Computed once per
        App (translate asks it for each service, which made a 1,000-service render quadratic);
        an App made anew (`dataclasses.replace`) computes it again from its own services."""
        return tuple(sorted(name for name, svc in self.services.items() if svc.ports))

    def volume_writers(self) -> list[str]:
        """The services that mount a volume read-write: the ones to stop for a consistent copy."""
        return [name for name, svc in self.services.items() if any(not m.read_only for m in svc.volumes)]

    def digest(self) -> str:
        """A stable hash of the manifest as deployed to this target (secret values excluded)."""
        data = self.manifest.model_dump(mode="json", by_alias=True, exclude={"overrides"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def secret_value(self, name: str) -> bytes:
        """The value of secret `name`, read now from its source. Never log or store it."""
        secret = self.manifest.secrets.get(name)
        if secret is None:
            raise InputError(f"secret `{name}` is not declared under `secrets`")
        if secret.source_kind == "env":
            # the same variables `${VAR}` sees: the environment, then the .env beside the manifest
            value = self.env.get(secret.source_ref)
            if value is None:
                value = read_dotenv(self.base_dir / ".env", self.env).get(secret.source_ref)
            if value is None:
                raise InputError(
                    f"secret `{name}` reads environment variable {secret.source_ref}, which is not set",
                    hint=f"export {secret.source_ref}=... before deploying",
                )
            return value.encode()
        file = Path(secret.source_ref)
        if not file.is_absolute():
            file = self.base_dir / file
        try:
            return file.read_bytes()
        except OSError as exc:
            raise InputError(f"secret `{name}` reads {file}, which cannot be read: {exc.strerror}") from None

    def secret_digest(self, name: str) -> str:
        """A keyed digest of a secret's value, so a changed secret rolls its users.

        HMAC-SHA256 under the app's own random key (kept in the state store, never on a
        target), so someone who reads the digest in an annotation, a label or the state
        cannot test guesses of a weak secret offline. 16 hex characters: the unsalted
        12-character digests of earlier versions never compare equal, so the first deploy
        after an upgrade rolls each secret's users once. Without a key (`render`) the answer
        is the constant UNKEYED_DIGEST.
        """
        if self.digest_key is None:
            return UNKEYED_DIGEST
        value = self.secret_value(name)
        mac = hmac.new(self.digest_key(), b"portable-secret:" + name.encode() + b"\0" + value, hashlib.sha256)
        return mac.hexdigest()[:16]

    def check_secrets(self) -> None:
        """Fails before anything is changed when a secret's source is missing."""
        for name in self.manifest.secrets:
            self.secret_value(name)
