"""What one target cannot do of what the manifest asks, found without touching the target.

`validate -t T`, `plan`, `deploy` and `render` all ask the same question, and all answer it
with file:line:column, so the user is sent to the field that asks (in the override when
the override asked) instead of to the whole file.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from portable.errors import CapabilityError, Problem
from portable.manifest.app import App
from portable.manifest.loader import LoadedManifest

if TYPE_CHECKING:  # the providers package is imported only when a target is used
    from portable.providers.base import Provider


def target_problems(loaded: LoadedManifest, app: App, provider: "Provider") -> list[Problem]:
    """Every capability `app` needs that `provider` lacks, and what its settings refuse
    (secrets with no channel but the VM's metadata), located in the manifest."""
    from portable.providers.base import required_capabilities

    problems = [
        Problem(path, f"target `{app.target_name}` ({provider.name}) cannot provide {cap.value.replace('_', ' ')}")
        for cap, path in required_capabilities(app).items()
        if cap not in provider.capabilities
    ]
    problems.extend(provider.unmet_settings(app))
    return loaded.locate(app.target_name, problems)


def check_settings(loaded: LoadedManifest, app: App, provider: "Provider") -> None:
    """Raises CapabilityError (exit 2) when the target's settings refuse what the app asks
    (unmet_settings: secrets or a registry password with no channel but the VM's metadata).
    Checked before images are built, pushed or copied (pinning, promote, migrate), so a
    refused deploy changes nothing anywhere; capabilities wait for the pins (a pushed
    `build:` no longer needs the target to build)."""
    problems = loaded.locate(app.target_name, provider.unmet_settings(app))
    if problems:
        raise CapabilityError("\n".join(p.render() for p in problems))


def check_target(loaded: LoadedManifest, app: App, provider: "Provider") -> None:
    """Raises CapabilityError (exit 2), one located line per problem, when the target falls short."""
    problems = target_problems(loaded, app, provider)
    if problems:
        raise CapabilityError("\n".join(p.render() for p in problems))
