"""Cloud-init user data for one instance of a service group, and the secrets it carries.

How secrets reach a VM: the only channel every cloud offers at boot is the user data, so
the user data rendered at *apply* time (`render_cloud_init(..., secrets=resolve_group_secrets(...))`)
carries the secret values, which the bootstrap writes as root-only files (0400 in a 0700
directory) mounted read-only into the container. Everything else (`render`, plan output,
state, Resource specs, the tests' golden files) calls it with `secrets=None` and gets
placeholders. Anyone allowed to read an instance's user data through the cloud API (e.g.
ec2:DescribeInstanceAttribute) can read those secrets: grant that permission accordingly.
"""
from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from portable.errors import InputError
from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.vm.bootstrap import SECRET_PLACEHOLDER, render_bootstrap
from portable.providers.vm.settings import RegistryLogin

__all__ = ["SECRET_PLACEHOLDER", "fit_user_data", "render_cloud_init", "resolve_group_secrets", "resolve_registry_password"]

BOOTSTRAP_PATH = "/var/lib/portable/bootstrap.sh"


def _spec(group: Resource | Mapping[str, Any]) -> Mapping[str, Any]:
    return group.spec if isinstance(group, Resource) else group


def render_cloud_init(
    app: App,
    group: Resource | Mapping[str, Any],
    *,
    secrets: Mapping[str, bytes] | None = None,
    registry: RegistryLogin | None = None,
    registry_password: bytes | None = None,
    hosts: Mapping[str, str] | None = None,
    disk_devices: Mapping[int, Sequence[str]] | None = None,
    replica: int = 0,
    dns_search: str | None = None,
    secret_source: Mapping[str, str] | None = None,
) -> str:
    """`#cloud-config` user data that writes the bootstrap script and runs it once.

    Deterministic for equal inputs. With `secrets=None` (and no `registry_password`) it holds
    placeholders only and may be written to files and shown to users. Volumes the app carries
    migration archives for (`app.restores`) are filled from them before the container starts.
    """
    spec = _spec(group)
    if spec["app"] != app.name:
        raise ValueError(f"group of app {spec['app']!r} rendered for app {app.name!r}")
    login = (registry.server, registry.username, registry_password) if registry is not None and registry.username else None
    script = render_bootstrap(spec, secrets=secrets, registry=login, hosts=hosts, disk_devices=disk_devices, replica=replica, dns_search=dns_search, restores=app.restores, secret_source=secret_source)
    body = "\n".join("      " + line if line else "" for line in script.splitlines())
    return (
        "#cloud-config\n"
        f"# portable: app={spec['app']} service={spec['service']} revision={spec['revision']}\n"
        "# supported images: Ubuntu 22.04/24.04 and Debian 12 cloud images (cloud-init, apt)\n"
        "write_files:\n"
        f"  - path: {BOOTSTRAP_PATH}\n"
        "    owner: root:root\n"
        "    permissions: '0700'\n"
        "    content: |\n"
        f"{body}\n"
        "runcmd:\n"
        f"  - [sh, {BOOTSTRAP_PATH}]\n"
    )


def resolve_group_secrets(app: App, group: Resource | Mapping[str, Any]) -> dict[str, bytes]:
    """The values of the secrets a group mounts, read now (apply time only). Never log them."""
    return {ref["name"]: app.secret_value(ref["name"]) for ref in _spec(group)["secrets"]}


def resolve_registry_password(login: RegistryLogin, base_dir: Path, env: Mapping[str, str]) -> bytes:
    """Reads the registry password from `env:VAR` or `file:PATH` (relative to the manifest)."""
    kind, _, ref = login.password_from.partition(":")
    if kind == "env":
        value = env.get(ref)
        if value is None:
            raise InputError(f"registry.password_from reads environment variable {ref}, which is not set")
        return value.encode()
    file = Path(ref) if Path(ref).is_absolute() else base_dir / ref
    try:
        return file.read_bytes().strip()
    except OSError as exc:
        raise InputError(f"registry.password_from reads {file}, which cannot be read: {exc.strerror}") from None


def fit_user_data(text: str, *, limit: int = 16384, what: str = "user data") -> bytes:
    """The user data as bytes under `limit`: as is, or gzipped (cloud-init detects gzip)."""
    raw = text.encode()
    if len(raw) <= limit:
        return raw
    packed = gzip.compress(raw, compresslevel=9, mtime=0)
    if len(packed) <= limit:
        return packed
    raise InputError(
        f"{what} is {len(packed)} bytes even gzipped, over the {limit}-byte limit",
        hint="move large `files` or many secrets into the image or a secret store",
    )
