"""`portable render` for docker: a docker-compose-style YAML of exactly what deploy creates.

Secrets appear by name with their source (compose's `environment:`/`file:` secret forms),
never by value. The front proxy is listed as the service owning the public port; the
upstream switching it does during deploys is portable's job and has no compose equivalent.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from portable.fast_yaml import PlainDumper
from portable.manifest.app import App
from portable.plan.resources import Resource

from portable.providers.docker import naming
from portable.providers.docker.containers import labels_for


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _security(security: dict[str, Any]) -> dict[str, Any]:
    """compose's keys for the service's `security:`, as create_replica passes them."""
    out: dict[str, Any] = {}
    if not security:
        return out
    if security["privileged"]:
        out["privileged"] = True
    if security["cap_drop"]:
        out["cap_drop"] = list(security["cap_drop"])
    if security["cap_add"]:
        out["cap_add"] = list(security["cap_add"])
    if security["no_new_privileges"]:
        out["security_opt"] = ["no-new-privileges:true"]
    if security["read_only_root"]:
        out["read_only"] = True
    if security["host_pid"]:
        out["pid"] = "host"
    if security["host_ipc"]:
        out["ipc"] = "host"
    return out


def _container(app: App, res: Resource, target: str) -> dict[str, Any]:
    spec = res.spec
    out: dict[str, Any] = {"container_name": naming.container_name(app.name, res.name), "image": spec["image"]}
    if spec.get("build"):
        b = spec["build"]
        out["build"] = {"context": b["context"], "dockerfile": b["dockerfile"], **({"args": b["args"]} if b["args"] else {})}
    if spec["entrypoint"]:
        out["entrypoint"] = list(spec["entrypoint"])
    if spec["command"]:
        out["command"] = list(spec["command"])
    if spec["env"]:
        out["environment"] = dict(spec["env"])
    if spec["user"]:
        out["user"] = spec["user"]
    if spec.get("working_dir"):
        out["working_dir"] = spec["working_dir"]
    ports = [f"{p['published']}:{p['port']}/{'udp' if p['protocol'] == 'udp' else 'tcp'}" for p in spec["ports"] if p["via"] == "direct"]
    if ports:
        out["ports"] = ports
    expose = [str(p["port"]) for p in spec["ports"] if p["via"] != "direct"]
    if expose:
        out["expose"] = expose
    if spec["volumes"]:
        out["volumes"] = [f"{v['name']}:{v['path']}{':ro' if v['read_only'] else ''}" for v in spec["volumes"]]
    if spec["secrets"]:
        out["secrets"] = [{"source": s["name"], "target": s["path"], "mode": 0o400} for s in spec["secrets"]]
    if spec["files"]:
        out["configs"] = [{"source": f"{res.service}-{i}", "target": f["path"], "mode": f["mode"]} for i, f in enumerate(spec["files"])]
    if spec["health"]:
        h = spec["health"]
        out["healthcheck"] = {"test": list(h["test"]), "interval": _seconds(h["interval_s"]), "timeout": _seconds(h["timeout_s"]),
                              "retries": h["retries"], "start_period": _seconds(h["start_period_s"])}
    out.update(_security(spec.get("security") or {}))
    out["restart"] = spec["restart"]
    out["stop_grace_period"] = _seconds(spec["stop_grace_s"])
    limits: dict[str, Any] = {}
    if spec["cpus"]:
        limits["cpus"] = f"{spec['cpus']:g}"
    if spec["memory"]:
        mem = int(spec["memory"])
        limits["memory"] = f"{mem // 1048576}m" if mem % 1048576 == 0 else f"{mem}b"
    if limits:
        out["deploy"] = {"resources": {"limits": limits}}
    if (spec.get("security") or {}).get("host_network"):
        out["network_mode"] = "host"
    else:
        out["networks"] = {spec["network"]: {"aliases": list(spec["aliases"])}}
    out["labels"] = labels_for(app, res, target)
    deps = sorted({d.split("/", 1)[1] for d in res.depends_on if d.startswith(f"{naming.KIND_CONTAINER}/")})
    if deps:
        out["depends_on"] = {d: {"condition": "service_healthy"} for d in deps}
    return out


def _escape_dollars(value: Any) -> Any:
    """Compose interpolates `$VAR` in every string; what portable runs is already final."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_escape_dollars(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape_dollars(v) for k, v in value.items()}
    return value


def render_compose(app: App, resources: list[Resource], outdir: Path, target: str) -> list[Path]:
    doc: dict[str, Any] = {"services": {}, "networks": {}, "volumes": {}}
    for res in resources:
        if res.kind == naming.KIND_NETWORK:
            doc["networks"][res.name] = {"name": res.spec["name"], "driver": res.spec["driver"]}
        elif res.kind == naming.KIND_VOLUME:
            # keyed by the engine's volume name: that is the name the services mount it by
            doc["volumes"][res.spec["name"]] = {"name": res.spec["name"], "driver": res.spec["driver"]}
        elif res.kind == naming.KIND_PROXY:
            s = res.spec
            doc["services"][res.name] = {
                "container_name": naming.container_name(app.name, res.name),
                "image": s["image"],
                "entrypoint": ["kamal-proxy"],
                "command": ["run", "--http-port", str(s["container_port"])],
                "ports": [f"{s['bind']}:{s['published']}:{s['container_port']}"],
                "networks": [s["network"]],
                "restart": "always",
                "labels": {**labels_for(app, res, target), naming.LABEL_PUBLISHED: str(s["published"])},
            }
        elif res.kind == naming.KIND_CONTAINER:
            doc["services"][res.name] = _container(app, res, target)
    # compose's depends_on names services, and ours are per replica: keep names as rendered
    secrets = {}
    for name, secret in app.manifest.secrets.items():
        secrets[name] = {"environment": secret.source_ref} if secret.source_kind == "env" else {"file": secret.source_ref}
    if secrets:
        doc["secrets"] = secrets
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    configs = {}
    for res in resources:
        if res.kind == naming.KIND_CONTAINER and res.spec["replica"] == 1:
            for i, f in enumerate(res.spec["files"]):
                name = f"{res.service}-{i}"
                file = outdir / "configs" / name
                file.parent.mkdir(exist_ok=True)
                file.write_text(f["content"])
                written.append(file)
                configs[name] = {"file": f"./configs/{name}"}
    if configs:
        doc["configs"] = configs
    for key in ("networks", "volumes"):
        if not doc[key]:
            del doc[key]
    doc["services"] = _escape_dollars(doc["services"])
    out = outdir / "docker-compose.yaml"
    header = f"# What `portable deploy` creates for {app.name} on target {target} (secret values are never written here).\n"
    # libyaml's emitter, values represented in one pass (fast_yaml): a 1,000-service app in a fraction of the time
    out.write_text(header + yaml.dump(doc, Dumper=PlainDumper, sort_keys=False, default_flow_style=False))
    return [out, *written]
