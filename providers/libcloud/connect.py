"""Opening a libcloud driver with credentials from the environment or a file, and mapping
libcloud's exceptions to portable errors, once, by type (and HTTP status), with retries.
"""
from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from libcloud.common.exceptions import BaseHTTPError, RateLimitReachedError
from libcloud.common.types import InvalidCredsError, LibcloudError, MalformedResponseError, ProviderError
from libcloud.compute.providers import get_driver

from portable.engine.retry import retry_transient
from portable.errors import AuthError, InputError, NotFoundError, PortableError, TargetError, TransientError
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


def map_error(exc: BaseException, action: str, what: str) -> PortableError:
    """One sentence for a libcloud failure, chosen by exception type and HTTP status."""
    if isinstance(exc, PortableError):
        return exc
    detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, InvalidCredsError):
        return AuthError(f"the cloud refused the credentials to {action} {what}: {detail}", hint="check the key/secret in the environment or credentials_file")
    if isinstance(exc, RateLimitReachedError):
        return TransientError(f"the cloud is throttling requests to {action} {what}", retry_after=float(getattr(exc, "retry_after", 0) or 0) or None)
    code = getattr(exc, "code", None) if isinstance(exc, BaseHTTPError) else getattr(exc, "http_code", None) if isinstance(exc, ProviderError) else None
    if isinstance(code, int):
        if code in (401, 403):
            return AuthError(f"the cloud refused to {action} {what} (HTTP {code}): {detail}", hint="check the credentials and their permissions")
        if code == 404:
            return NotFoundError(f"could not {action} {what}: not found (HTTP 404): {detail}")
        if code == 429 or code >= 500:
            return TransientError(f"the cloud could not {action} {what} right now (HTTP {code})")
        return TargetError(f"could not {action} {what} (HTTP {code}): {detail}")
    if isinstance(exc, (socket.timeout, TimeoutError, ConnectionError, ssl.SSLError)):
        return TransientError(f"could not reach the cloud to {action} {what}: {detail}")
    if isinstance(exc, MalformedResponseError):
        return TargetError(f"the cloud's answer to {action} {what} could not be parsed: {detail[:200]}")
    if isinstance(exc, (LibcloudError, ValueError)):
        return TargetError(f"could not {action} {what}: {detail}")
    return TargetError(f"could not {action} {what}: {type(exc).__name__}: {detail}")


def call(fn: Callable[..., T], *args: Any, action: str, what: str, attempts: int = 5, **kwargs: Any) -> T:
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
