"""portable: one application manifest, deployed unchanged to Docker, Kubernetes, AWS, any
Libcloud cloud or vSphere, and migrated between them with its data.

The public Python API. Names are resolved lazily so `import portable` (and so the CLI)
stays fast and imports no cloud SDK.

    import portable
    result = portable.deploy("portable.yaml", target="local")
"""
from __future__ import annotations

import importlib
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


def __dir__() -> list[str]:
    return __all__
