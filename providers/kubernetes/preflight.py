"""What a kubernetes deploy will read, checked read-only while planning (issue 17).

The pull Secret of `registries[i]` is filled at apply time from the manifest secret named
by `password_secret`; a name the manifest does not declare used to fail there, after the
namespace and the app's objects were created. `image_pull_secrets` name Secrets that must
already exist in the namespace; one that does not was never noticed (the pods then fail
to pull). Both are checked here, by one GET per Secret, before anything is created.
"""
from __future__ import annotations

from portable.errors import InputError
from portable.manifest.app import App
from portable.providers.base import settings_error
from portable.providers.kubernetes.client import Kube
from portable.providers.kubernetes.settings import KubernetesSettings
from portable.providers.kubernetes.translate import namespace_of


def check_registries(app: App, settings: KubernetesSettings) -> None:
    """Every `registries[i].password_secret` is a declared secret whose value can be read now."""
    for i, reg in enumerate(settings.registries):
        field = f"registries[{i}].password_secret"
        if reg.password_secret not in app.manifest.secrets:
            declared = ", ".join(sorted(app.manifest.secrets)) or "none"
            raise settings_error(app, field, f"names secret `{reg.password_secret}`, which the manifest does not declare under `secrets` (declared: {declared})",
                                 f"declare `secrets: {{{reg.password_secret}: {{from: env:VARIABLE}}}}` or fix the name")
        try:
            app.secret_value(reg.password_secret)
        except InputError as exc:
            raise settings_error(app, field, exc.message, exc.hint) from None


def check_pull_secrets(app: App, settings: KubernetesSettings, kube: Kube) -> None:
    """Every `image_pull_secrets[i]` exists in the app's namespace (a GET; none is created)."""
    namespace = namespace_of(app, settings)
    for i, name in enumerate(settings.image_pull_secrets):
        if kube.get("Secret", namespace, name) is None:
            raise settings_error(app, f"image_pull_secrets[{i}]", f"Secret {name} does not exist in namespace {namespace}",
                                 "create it first (kubectl create secret docker-registry), or list the registry under `registries`")


def preflight(app: App, settings: KubernetesSettings, kube: Kube) -> None:
    check_registries(app, settings)
    check_pull_secrets(app, settings, kube)
