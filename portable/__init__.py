"""portable: one application manifest, deployed unchanged to Docker, Kubernetes, AWS, any
Libcloud cloud or vSphere, and migrated between them with its data.

The public Python API. Names are resolved lazily so `import portable` (and so the CLI)
stays fast and imports no cloud SDK.

    import portable
    result = portable.deploy("portable.yaml", target="local")
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

_API = {
    "validate": "portable.api",
    "render": "portable.api",
    "plan": "portable.api",
    "deploy": "portable.api",
    "status": "portable.api",
    "logs": "portable.api",
    "destroy": "portable.api",
    "rollback": "portable.api",
    "history": "portable.api",
    "targets": "portable.api",
    "migrate": "portable.migrate.api",
    "backup": "portable.migrate.api",
    "restore": "portable.migrate.api",
    "load_app": "portable.manifest",
    "App": "portable.manifest",
    "Manifest": "portable.manifest",
    "Plan": "portable.plan",
    "Resource": "portable.plan",
    "ServiceStatus": "portable.plan",
    "DeployResult": "portable.api",
    "StatusResult": "portable.api",
    "ValidationResult": "portable.api",
    "TargetInfo": "portable.api",
    "Revision": "portable.state",
    "PortableError": "portable.errors",
    "InputError": "portable.errors",
    "ManifestError": "portable.errors",
    "MissingExtraError": "portable.errors",
    "CapabilityError": "portable.errors",
    "TargetError": "portable.errors",
    "TransientError": "portable.errors",
    "AuthError": "portable.errors",
    "NotFoundError": "portable.errors",
    "HealthCheckError": "portable.errors",
    "StateError": "portable.errors",
    "StateLockedError": "portable.errors",
    "MigrationError": "portable.errors",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'portable' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


class _PublicNames(types.ModuleType):
    """Keeps the public verbs bound to the functions of the API.

    Importing a subpackage sets it as an attribute of its parent: `import portable.plan`
    would rebind `portable.plan` (the verb) to the subpackage, and `portable.migrate` the
    same. The import system's setattr of a submodule over a public name is ignored, so the
    name keeps meaning the verb; the subpackage stays reachable through sys.modules and
    `from portable.plan import ...`."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _API and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _PublicNames


def __dir__() -> list[str]:
    return __all__
