"""Writes an app's objects as one plain multi-document YAML file for kubectl.

The file is exactly what portable applies (digest annotations included), so
`kubectl apply --server-side -f` of it and `portable deploy` agree. Secrets are written
without their values (see README.md): the values only ever reach the cluster's own Secret
objects, through portable's apply.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from portable.fast_yaml import BlockTextDumper
from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.kubernetes import naming as n
from portable.providers.kubernetes.apply import b64, registry_config, stamped
from portable.providers.kubernetes.settings import KubernetesSettings
from portable.providers.kubernetes.translate import namespace_of


class _Dumper(BlockTextDumper):
    """Block style for multi-line text (config files read as they were written), no aliases.

    libyaml's emitter when PyYAML has it (the pure-Python one spent 80% of a 1,000-service
    render), with the values represented in one pass (portable.fast_yaml)."""


def dependency_order(resources: list[Resource]) -> list[Resource]:
    """Stable topological order: every object after what it depends on."""
    by_key = {r.key: r for r in resources}
    done: set[str] = set()
    out: list[Resource] = []

    def visit(r: Resource, path: tuple[str, ...] = ()) -> None:
        if r.key in done or r.key in path:
            return
        for dep in r.depends_on:
            if dep in by_key:
                visit(by_key[dep], path + (r.key,))
        done.add(r.key)
        out.append(r)

    for r in resources:
        visit(r)
    return out


def rendered_objects(app: App, settings: KubernetesSettings, target_name: str, resources: list[Resource]) -> list[dict[str, Any]]:
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace_of(app, settings), "labels": {n.MANAGED_BY: "portable", n.TARGET_LABEL: n.dns_name(target_name)}},
    }
    objects: list[dict[str, Any]] = [namespace]
    for r in dependency_order(resources):
        obj = stamped(r)
        if obj.get("type") == "kubernetes.io/dockerconfigjson":
            # the API requires the key; the rendered one names the user but holds no password
            who = obj["metadata"]["annotations"].get("portable.io/registry", "@")
            user, _, server = who.partition("@")
            obj["data"] = {".dockerconfigjson": b64(registry_config(server, user, None).encode())}
        objects.append(obj)
    return objects


def render(app: App, settings: KubernetesSettings, target_name: str, resources: list[Resource], outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    out = outdir / f"{app.name}.{target_name}.yaml"
    header = (
        f"# {app.name} for target {target_name} (namespace {namespace_of(app, settings)}), rendered by portable.\n"
        "# Apply with: kubectl apply --server-side --field-manager=portable -f THIS_FILE\n"
        "# Secrets are written without values; portable deploy fills them from the manifest's secret sources.\n"
    )
    body = yaml.dump_all(rendered_objects(app, settings, target_name, resources), Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    out.write_text(header + body)
    return [out]
