"""Opening a libcloud driver with credentials from the environment or a file, and `call`,
the wrapper every libcloud call goes through: errors mapped (`errors.py`) and transient ones
retried, bounded.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from libcloud.compute.providers import get_driver

from portable.engine.retry import retry_transient
from portable.errors import AuthError, InputError, PortableError
from portable.providers.libcloud.errors import map_error
from portable.providers.libcloud.profiles import DriverProfile
from portable.providers.libcloud.settings import LibcloudSettings

T = TypeVar("T")


def credentials(settings: LibcloudSettings, profile: DriverProfile, env: Mapping[str, str], base_dir: Path) -> tuple[list[Any], dict[str, Any]]:
    """Constructor arguments carrying the credentials: positional key (and secret) from the
    environment, or every entry of `credentials_file` as a keyword argument (so drivers whose
    constructors start with other parameters, e.g. azure_arm's tenant_id, can be given them)."""
    if settings.credentials_file:
        path = Path(settings.credentials_file).expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise InputError(f"credentials_file {path} cannot be read: {exc.strerror}") from None
        except ValueError as exc:
            raise InputError(f"credentials_file {path} is not JSON: {exc}") from None
        if not isinstance(data, dict) or not data:
            raise InputError(f"credentials_file {path} must be a JSON object of the driver's constructor arguments (e.g. key, secret)")
        return [], data
    key = next((env[v] for v in ("LIBCLOUD_KEY", *profile.key_env) if env.get(v)), None)
    secret = next((env[v] for v in ("LIBCLOUD_SECRET", *profile.secret_env) if env.get(v)), None)
    if key is None:
        names = " or ".join(("LIBCLOUD_KEY", *profile.key_env))
        raise AuthError(f"no credentials for the libcloud `{settings.driver}` driver", hint=f"export {names} (and the secret), or set `credentials_file` on the target")
    if profile.credential_kwargs:  # e.g. vsphere: (host, username, password, ...)
        key_kw, secret_kw = profile.credential_kwargs
        return [], {key_kw: key, **({secret_kw: secret} if secret is not None else {})}
    return [key] + ([secret] if secret is not None else []), {}


def open_driver(settings: LibcloudSettings, profile: DriverProfile, env: Mapping[str, str], base_dir: Path) -> Any:
    try:
        cls = get_driver(settings.driver)
    except AttributeError:
        raise InputError(f"libcloud has no compute driver named `{settings.driver}`", hint="see libcloud.compute.types.Provider for the names") from None
    args, kwargs = credentials(settings, profile, env, base_dir)
    if settings.region:
        kwargs.setdefault("region", settings.region)
    kwargs.update(settings.driver_options)
    try:
        return cls(*args, **kwargs)
    except Exception as exc:  # constructors validate their arguments in driver-specific ways
        raise map_error(exc, "open", f"the libcloud `{settings.driver}` driver") from exc


def call(fn: Callable[..., T], *args: Any, action: str, what: str, attempts: int = 8, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` with libcloud errors mapped and transient ones retried (bounded)."""

    @retry_transient(attempts=attempts, max_seconds=90.0)
    def once() -> T:
        try:
            return fn(*args, **kwargs)
        except PortableError:
            raise
        except Exception as exc:
            raise map_error(exc, action, what) from exc

    return once()


def created_once(create: Callable[[], T], find: Callable[[], T | None], *, attempts: int = 5) -> T:
    """`create()`, retried on transient failures only after `find()` shows that the earlier try
    made nothing: its answer may have been lost after the cloud acted (a dropped connection, an
    error page from something in between), and a blind repeat makes a second object. What
    `find` returns is kept. `create` must make one request (call(..., attempts=1)), not retry."""
    tries = 0

    @retry_transient(attempts=attempts, max_seconds=90.0)
    def once() -> T:
        nonlocal tries
        tries += 1
        if tries > 1:
            found = find()
            if found is not None:
                return found
        return create()

    return once()
