"""A loaded compose project to portable manifest data, key by key.

Top-level sections are converted here (name, volumes, secrets, configs, networks, the
`x-portable` extension); each service goes through `service.py` and `storage.py`. The
result is plain data the manifest model validates, plus findings and the compose
position of every field.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from portable.compose.findings import Conversion
from portable.compose.keys import IGNORED, rule
from portable.compose.located import LDict, Loc
from portable.compose.project import ComposeProject
from portable.compose.service import ServiceContext, compose_security_defaults, convert_fields
from portable.compose.storage import MAX_FILE_BYTES, STORAGE_HANDLERS
from portable.compose.values import dns_label
from portable.errors import ManifestError, Problem

SERVICE_ORDER = ("image", "build", "command", "args", "env", "secrets", "ports", "replicas", "resources", "health", "volumes", "files", "depends_on", "restart", "labels", "user", "working_dir", "stop_grace_period", "security")
EXTENSION = "x-portable"


def convert(project: ComposeProject, manifest_dir: Path | None = None) -> Conversion:
    """The portable manifest data for `project`; relative paths are made relative to `manifest_dir`."""
    conv = Conversion(project, (manifest_dir or project.project_dir).resolve())
    model = project.model
    data: dict[str, Any] = {"apiVersion": "portable/v1", "kind": "Application"}
    name = dns_label(project.name)
    data["metadata"] = {"name": name}
    if "name" in model:
        conv.origin("metadata.name", model.key_at("name"))
        if name != str(model["name"]):
            conv.approx(model.key_at("name"), "name", f"the app is named `{name}` (a DNS-1123 label)", "metadata.name")
    _secrets(conv, model)
    _configs(conv, model)
    services = model.get("services") or LDict(model.loc)
    names = _service_names(conv, services)
    out_services: dict[str, Any] = {}
    for svc_name in services:
        svc = services[svc_name]
        if not isinstance(svc, LDict):
            svc = LDict(services.value_at(svc_name))
        ctx = ServiceContext(conv, svc_name, svc, names, lambda p: _relative(conv, p))
        try:
            convert_fields(ctx, STORAGE_HANDLERS)
        except (ValueError, TypeError, KeyError) as exc:
            loc = svc.loc
            raise ManifestError([Problem(f"services.{svc_name}", f"cannot convert: {exc}", loc.file, loc.line, loc.col)]) from None
        if "restart" not in ctx.out:
            ctx.out["restart"] = "no"  # compose's default; portable's own default is `always`
            conv.origin(f"services.{names[svc_name]}.restart", services.key_at(svc_name))
        compose_security_defaults(ctx)
        conv.origin(f"services.{names[svc_name]}", services.key_at(svc_name))
        out_services[names[svc_name]] = {k: ctx.out[k] for k in SERVICE_ORDER if k in ctx.out}
    data["services"] = out_services
    volumes = _volumes(conv, model)
    if volumes:
        data["volumes"] = volumes
    secrets = {conv.secret_names[s]: spec for s, spec in conv.secret_specs.items()}
    if secrets:
        data["secrets"] = secrets
    _networks(conv, model)
    _extension(conv, model, data)
    for key in model:
        if key in ("services", "volumes", "secrets", "configs", "networks", "name", "version", EXTENSION) or key.startswith("x-"):
            continue
        r = rule(key)
        if r.fate == IGNORED:
            conv.note(model.key_at(key), key, r.note)
        elif key != "include":
            conv.drop(model.key_at(key), key)
    for note in project.notes:
        conv.note(note.loc, note.path, note.text)
    conv.data = data
    return conv


def _relative(conv: Conversion, path: Path) -> str:
    rel = os.path.relpath(path.resolve(), conv.manifest_dir)
    return rel if rel.startswith(".") else f"./{rel}" if rel != "." else "."


def _service_names(conv: Conversion, services: LDict) -> dict[str, str]:
    names: dict[str, str] = {}
    taken: dict[str, str] = {}
    for svc_name in services:
        label = dns_label(svc_name)
        loc = services.key_at(svc_name)
        if label in taken:
            raise ManifestError([Problem(f"services.{svc_name}", f"becomes `{label}` as a DNS-1123 label, like service `{taken[label]}`; rename one", loc.file, loc.line, loc.col)])
        taken[label] = svc_name
        names[svc_name] = label
        if label != svc_name:
            conv.approx(loc, f"services.{svc_name}", f"the service is named `{label}` (a DNS-1123 label)", f"services.{label}")
    return names


def _volumes(conv: Conversion, model: LDict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    declared = model.get("volumes") or LDict(model.loc)
    used_sources = {src for src in conv.volume_names.values() if src is not None}
    by_label: dict[str, str] = {}
    for vol in declared:
        loc = declared.key_at(vol)
        label = dns_label(vol)
        if label in by_label and by_label[label] != vol:
            raise ManifestError([Problem(f"volumes.{vol}", f"becomes `{label}` as a DNS-1123 label, like volume `{by_label[label]}`; rename one", loc.file, loc.line, loc.col)])
        by_label[label] = vol
        spec = declared[vol]
        if isinstance(spec, LDict):
            conv.drop_rest(spec, f"volumes.{vol}", set())
        if vol not in used_sources:
            conv.note(loc, f"volumes.{vol}", "no active service mounts it; not carried")
            continue
        out[label] = {}
        conv.origin(f"volumes.{label}", loc)
        conv.approx(loc, f"volumes.{vol}", "size 1Gi, portable's default: compose volumes have no size (set volumes.NAME.size where the target allocates disks)", f"volumes.{label}")
    for name, source in conv.volume_names.items():
        if source is None and name not in out:
            out[name] = {}
    return out


def _secrets(conv: Conversion, model: LDict) -> None:
    conv.secret_specs = {}
    declared = model.get("secrets") or LDict(model.loc)
    taken: dict[str, str] = {}
    for sec in declared:
        spec = declared[sec]
        loc = declared.key_at(sec)
        label = dns_label(sec)
        if label in taken:
            raise ManifestError([Problem(f"secrets.{sec}", f"becomes `{label}` as a DNS-1123 label, like secret `{taken[label]}`; rename one", loc.file, loc.line, loc.col)])
        taken[label] = sec
        if not isinstance(spec, LDict):
            continue
        if "file" in spec:
            path = conv.project.base_dir(spec.value_at("file")) / str(spec["file"])
            conv.secret_specs[sec] = {"from": f"file:{_relative(conv, path)}"}
        elif "environment" in spec:
            conv.secret_specs[sec] = {"from": f"env:{spec['environment']}"}
        else:
            conv.drop(loc, f"secrets.{sec}", "an external secret (or one without file or environment) cannot be read")
            conv.drop_rest(spec, f"secrets.{sec}", {"external"})
            continue
        conv.secret_names[sec] = label
        conv.origin(f"secrets.{label}", loc)
        conv.drop_rest(spec, f"secrets.{sec}", {"file", "environment"})


def _configs(conv: Conversion, model: LDict) -> None:
    declared = model.get("configs") or LDict(model.loc)
    for cfg in declared:
        spec = declared[cfg]
        loc = declared.key_at(cfg)
        if not isinstance(spec, LDict):
            continue
        p = f"configs.{cfg}"
        if "content" in spec:
            conv.config_contents[cfg] = str(spec["content"])
        elif "environment" in spec:
            var = str(spec["environment"])
            if var not in conv.project.env:
                conv.drop(spec.key_at("environment"), f"{p}.environment", f"{var} is not set")
            else:
                conv.config_contents[cfg] = conv.project.env[var]
                conv.approx(spec.key_at("environment"), f"{p}.environment", f"the value of {var} at import time is written into the manifest")
        elif "file" in spec:
            path = (conv.project.base_dir(spec.value_at("file")) / str(spec["file"])).resolve()
            why = _unreadable(path)
            if why:
                conv.drop(spec.key_at("file"), f"{p}.file", f"{spec['file']}: {why}")
            else:
                conv.config_contents[cfg] = path.read_text(encoding="utf-8")
                conv.approx(spec.key_at("file"), f"{p}.file", f"{spec['file']} is read at import time and written into the manifest (a snapshot)")
        else:
            conv.drop(loc, p, "an external config cannot be read")
        conv.drop_rest(spec, p, {"content", "environment", "file", "external"})


def _unreadable(path: Path) -> str | None:
    if not path.is_file():
        return "no such file"
    if path.stat().st_size > MAX_FILE_BYTES:
        return f"larger than {MAX_FILE_BYTES} bytes"
    try:
        path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return "not a text file"
    return None


def _networks(conv: Conversion, model: LDict) -> None:
    nets = model.get("networks")
    if not isinstance(nets, LDict):
        return
    for net in nets:
        spec = nets[net]
        loc = nets.key_at(net)
        if isinstance(spec, LDict) and spec:
            conv.approx(loc, f"networks.{net}", "all services share one app network; this network's settings are not carried")
        elif net != "default":
            conv.approx(loc, f"networks.{net}", "all services share one app network")


def _extension(conv: Conversion, model: LDict, data: dict[str, Any]) -> None:
    """`x-portable: {targets, overrides, labels}`: portable's own settings, ignored by compose."""
    ext = model.get(EXTENSION)
    if ext is None:
        return
    loc = model.key_at(EXTENSION)
    if not isinstance(ext, LDict):
        raise ManifestError([Problem(EXTENSION, "expected a mapping with targets, overrides or labels", loc.file, loc.line, loc.col)])
    for key in ext:
        if key == "targets":
            data["targets"] = _plain(ext[key])
        elif key == "overrides":
            data["overrides"] = _plain(ext[key])
        elif key == "labels":
            data["metadata"]["labels"] = _plain(ext[key])
        else:
            at = ext.key_at(key)
            raise ManifestError([Problem(f"{EXTENSION}.{key}", f"unknown key `{key}` (expected targets, overrides or labels)", at.file, at.line, at.col)])
        conv.origin(key if key != "labels" else "metadata.labels", ext.key_at(key))
        _origins_below(conv, ext[key], key if key != "labels" else "metadata.labels")


def _origins_below(conv: Conversion, value: Any, prefix: str) -> None:
    if isinstance(value, LDict):
        for k in value:
            conv.origin(f"{prefix}.{k}", value.key_at(k))
            _origins_below(conv, value[k], f"{prefix}.{k}")


def _plain(value: Any) -> Any:
    from portable.compose.located import plain

    return plain(value)


def loc_or(conv: Conversion, path: str, default: Loc) -> Loc:
    return conv.origins.get(path, default)
