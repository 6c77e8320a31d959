"""Preflight checks every VM target shares: the registry password the instances log in with.

The password is read at apply time, when each instance's user data is written; by then the
security groups, load balancer and volumes exist. Reading it once while planning (the value
is dropped at once, never logged) makes an unset variable or unreadable file exit 2 naming
`targets.<target>.registry.password_from` before anything is created.
"""
from __future__ import annotations

from portable.errors import InputError
from portable.manifest.app import App
from portable.providers.base import settings_error
from portable.providers.vm.cloud_init import resolve_registry_password
from portable.providers.vm.settings import RegistryLogin

PASSWORD_FIELD = "registry.password_from"


def check_registry_login(app: App, registry: RegistryLogin | None) -> None:
    """Raises the located settings error when the registry password cannot be read now."""
    if registry is None or registry.password_from is None:
        return
    try:
        resolve_registry_password(registry, app.base_dir, app.env)
    except InputError as exc:
        kind, _, ref = registry.password_from.partition(":")
        hint = f"export {ref}=... before deploying" if kind == "env" else "create the file, or fix the path; a relative one is read beside the manifest"
        raise settings_error(app, PASSWORD_FIELD, exc.message.removeprefix(f"{PASSWORD_FIELD} "), hint) from None
