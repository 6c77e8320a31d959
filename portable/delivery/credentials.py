"""Registry credentials: `password_from` (env:VAR or file:PATH), else the standard Docker
credential sources (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`: `auths`, then
`credHelpers`/`credsStore` through `docker-credential-<helper> get`). Never the manifest."""
from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path

from portable.delivery.settings import ImageRegistry
from portable.errors import InputError

Login = tuple[str, str]


def registry_login(registry: ImageRegistry, base_dir: Path, env: Mapping[str, str]) -> Login | None:
    """(username, password) for `registry`, or None for anonymous access."""
    if registry.username is not None and registry.password_from is not None:
        return registry.username, _password(registry.password_from, base_dir, env)
    return docker_config_login(registry.server, env)


def _password(source: str, base_dir: Path, env: Mapping[str, str]) -> str:
    kind, _, ref = source.partition(":")
    if kind == "env":
        value = env.get(ref)
        if value is None:
            raise InputError(f"registry.password_from reads environment variable {ref}, which is not set")
        return value
    file = Path(ref) if Path(ref).is_absolute() else base_dir / ref
    try:
        return file.read_text().strip()
    except OSError as exc:
        raise InputError(f"registry.password_from reads {file}, which cannot be read: {exc.strerror}") from None


def docker_config_login(server: str, env: Mapping[str, str]) -> Login | None:
    """What `docker login` stored for `server`, or None."""
    folder = Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker")
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    helper = (config.get("credHelpers") or {}).get(server) or config.get("credsStore")
    auth = ((config.get("auths") or {}).get(server) or {}).get("auth")
    if auth:
        user, _, password = base64.b64decode(auth).decode().partition(":")
        return user, password
    if helper:
        return _from_helper(str(helper), server)
    return None


def _from_helper(helper: str, server: str) -> Login | None:
    try:
        done = subprocess.run([f"docker-credential-{helper}", "get"], input=server, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    try:
        data = json.loads(done.stdout)
    except ValueError:
        return None
    return str(data.get("Username", "")), str(data.get("Secret", ""))
