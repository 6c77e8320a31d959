"""One compose service to one portable service: image, build, command, environment,
labels, restart, user, replicas, resources, health checks and dependencies.

Ports, volumes, secrets and configs are in `storage.py` and `ports.py`. Every key of the
service is either converted here, or warned through the key table: nothing is dropped
without a line saying so.
"""
from __future__ import annotations

from pathlib import Path
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Callable

from portable.compose.findings import Conversion
from portable.compose.interpolation import read_env_file
from portable.compose.keys import LOADER, rule
from portable.compose.located import LDict, LList, Loc
from portable.compose.values import argv, dns_label, duration_seconds, key_value_pairs, memory_bytes, portable_duration, portable_size, text

Handler = Callable[["ServiceContext"], None]


class ServiceContext:
    """The service being converted: its compose mapping, the portable result, names."""

    def __init__(self, conv: Conversion, name: str, svc: LDict, names: dict[str, str], rel: Callable[[Path], str]) -> None:
        self.conv = conv
        self.name = name  # compose name
        self.svc = svc
        self.out: dict[str, Any] = {}
        self.names = names  # compose service name -> portable name
        self.rel = rel
        self.path = f"services.{name}"
        self.mpath = f"services.{names[name]}"

    def at(self, key: str) -> Loc:
        return self.svc.key_at(key)

    def set(self, field: str, value: Any, key: str) -> None:
        self.out[field] = value
        self.conv.origin(f"{self.mpath}.{field}", self.svc.key_at(key))


def _image(c: ServiceContext) -> None:
    c.set("image", str(c.svc["image"]), "image")
    if "build" in c.svc:
        c.conv.approx(c.at("image"), f"{c.path}.image", "image and build are both set: portable runs the image and builds only when no image is given (compose builds it and tags it so)", f"{c.mpath}.image")


def _build(c: ServiceContext) -> None:
    b = c.svc["build"]
    base = c.conv.project.base_dir(c.svc.value_at("build"))
    if isinstance(b, str):
        c.set("build", {"context": c.rel(base / b)}, "build")
        return
    out: dict[str, Any] = {"context": c.rel(base / str(b.get("context", ".")))}
    if "dockerfile" in b:
        out["dockerfile"] = str(b["dockerfile"])
    if "args" in b:
        args: dict[str, str] = {}
        for k, v, i in key_value_pairs(b["args"]):
            if v is None:
                v = c.conv.project.env.get(k)
                if v is None:
                    c.conv.drop(_item_loc(b["args"], k, i), f"{c.path}.build.args.{k}", f"{k} has no value and is not set in the environment")
                    continue
            args[k] = v
        if args:
            out["args"] = args
    c.set("build", out, "build")
    c.conv.drop_rest(b, f"{c.path}.build", {"context", "dockerfile", "args"})


@lru_cache(maxsize=1)
def _label_adapters() -> tuple[Any, Any]:
    from pydantic import TypeAdapter

    from portable.manifest.model import LabelKey, LabelValue

    return TypeAdapter(LabelKey), TypeAdapter(LabelValue)


def label_problem(key: str, value: str) -> str | None:
    """Why a label cannot be carried (the manifest's own rule), or None."""
    from pydantic import ValidationError

    keys, values = _label_adapters()
    try:
        keys.validate_python(key)
        values.validate_python(value)
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    return None


def _item_loc(container: Any, key: str, index: int) -> Loc:
    if isinstance(container, LDict):
        return container.key_at(key)
    if isinstance(container, LList):
        return container.at(index)
    return Loc("<unknown>", 0, 0)


def _command(c: ServiceContext) -> None:
    if c.svc["command"] is not None:
        c.set("args", argv(c.svc["command"]), "command")


def _entrypoint(c: ServiceContext) -> None:
    value = c.svc["entrypoint"]
    if value is None:
        return
    words = argv(value)
    if not words:
        c.conv.drop(c.at("entrypoint"), f"{c.path}.entrypoint", "an empty entrypoint (clearing the image's) cannot be expressed; the image's ENTRYPOINT runs")
        return
    c.set("command", words, "entrypoint")


def _environment(c: ServiceContext) -> None:
    """env_file first, then environment over it, as compose orders them."""
    env: dict[str, str] = dict(c.out.get("env", {}))
    if "env_file" in c.svc:
        entries = c.svc["env_file"]
        entries = [entries] if isinstance(entries, str) else list(entries)
        loc = c.at("env_file")
        base = c.conv.project.base_dir(c.svc.value_at("env_file"))
        for entry in entries:
            spec = entry if isinstance(entry, dict) else {"path": entry}
            file = base / str(spec["path"])
            required = spec.get("required", True) not in (False, "false")
            if not file.is_file():
                if required:
                    from portable.errors import ManifestError, Problem

                    raise ManifestError([Problem(f"{c.path}.env_file", f"{spec['path']}: no such env file", loc.file, loc.line, loc.col)])
                continue
            env.update(read_env_file(file, c.conv.project.env))
        c.conv.approx(loc, f"{c.path}.env_file", f"{', '.join(str(e if isinstance(e, str) else e['path']) for e in entries)} read at import time; its variables are written into env", f"{c.mpath}.env")
    if "environment" in c.svc:
        value = c.svc["environment"]
        for k, v, i in key_value_pairs(value):
            if v is None:
                v = c.conv.project.env.get(k)
                if v is None:
                    c.conv.drop(_item_loc(value, k, i), f"{c.path}.environment.{k}", f"{k} is not set in the environment; compose leaves it out too")
                    continue
            env[k] = v
    if env:
        c.out["env"] = env
        c.conv.origin(f"{c.mpath}.env", c.at("environment") if "environment" in c.svc else c.at("env_file"))


def _labels(c: ServiceContext) -> None:
    labels = dict(c.out.get("labels", {}))
    if "label_file" in c.svc:
        files = c.svc["label_file"]
        files = [files] if isinstance(files, str) else list(files)
        base = c.conv.project.base_dir(c.svc.value_at("label_file"))
        for f in files:
            labels.update(read_env_file(base / str(f), {}, interpolate=False))
        c.conv.approx(c.at("label_file"), f"{c.path}.label_file", "read at import time", f"{c.mpath}.labels")
    if "labels" in c.svc:
        for k, v, _ in key_value_pairs(c.svc["labels"]):
            labels[k] = v or ""
    for k in list(labels):
        why = label_problem(k, labels[k])
        if why:
            where = _item_loc(c.svc["labels"], k, list(labels).index(k)) if "labels" in c.svc else c.at("label_file")
            c.conv.drop(where, f"{c.path}.labels.{k}", f"{why}: portable labels must be valid on every target (Kubernetes label syntax)")
            del labels[k]
    if labels:
        c.out["labels"] = labels
        c.conv.origin(f"{c.mpath}.labels", c.at("labels") if "labels" in c.svc else c.at("label_file"))


_RESTART = {"no": "no", "always": "always", "on-failure": "on-failure", "unless-stopped": "unless-stopped"}
_RESTART_CONDITION = {"none": "no", "on-failure": "on-failure", "any": "always"}


def _restart(c: ServiceContext) -> None:
    raw = c.svc["restart"]
    value = "no" if raw is False else str(raw)
    policy, _, retries = value.partition(":")
    if policy not in _RESTART:
        c.conv.drop(c.at("restart"), f"{c.path}.restart", f"unknown restart policy {value!r}; expected no, always, on-failure or unless-stopped")
        return
    c.set("restart", _RESTART[policy], "restart")
    if retries:
        c.conv.approx(c.at("restart"), f"{c.path}.restart", f"on-failure without the limit of {retries} retries (targets retry with their own back-off)", f"{c.mpath}.restart")


def _user(c: ServiceContext) -> None:
    c.set("user", text(c.svc["user"]), "user")


def _working_dir(c: ServiceContext) -> None:
    path = text(c.svc["working_dir"])
    if not path.startswith("/"):
        c.conv.drop(c.at("working_dir"), f"{c.path}.working_dir", f"{path!r} is not an absolute path; the image's WORKDIR is used")
        return
    c.set("working_dir", path, "working_dir")


def _stop_grace(c: ServiceContext) -> None:
    c.set("stop_grace_period", portable_duration(c.svc["stop_grace_period"]), "stop_grace_period")


def _scale(c: ServiceContext) -> None:
    c.set("replicas", int(c.svc["scale"]), "scale")


def _cpus(c: ServiceContext) -> None:
    _set_resource(c, "cpu", float(c.svc["cpus"]), "cpus")


def _mem_limit(c: ServiceContext) -> None:
    _set_resource(c, "memory", portable_size(memory_bytes(c.svc["mem_limit"])), "mem_limit")


def _mem_reservation(c: ServiceContext) -> None:
    has_limit = "mem_limit" in c.svc or _deploy_value(c.svc, "resources", "limits", "memory") is not None
    if has_limit:
        c.conv.drop(c.at("mem_reservation"), f"{c.path}.mem_reservation", "a limit is set too; portable sets one memory amount, the limit")
        return
    _set_resource(c, "memory", portable_size(memory_bytes(c.svc["mem_reservation"])), "mem_reservation")
    c.conv.approx(c.at("mem_reservation"), f"{c.path}.mem_reservation", "a reservation becomes the one memory amount, which targets also enforce as a limit", f"{c.mpath}.resources.memory")


def _set_resource(c: ServiceContext, field: str, value: Any, key: str, loc: Loc | None = None) -> None:
    res = c.out.setdefault("resources", {})
    res[field] = value
    c.conv.origin(f"{c.mpath}.resources.{field}", loc or c.at(key))


def _deploy_value(svc: LDict, *path: str) -> Any:
    cur: Any = svc.get("deploy")
    for part in path:
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _deploy(c: ServiceContext) -> None:
    d = c.svc["deploy"]
    if not isinstance(d, LDict):
        return
    p = f"{c.path}.deploy"
    if "replicas" in d:
        c.out["replicas"] = int(d["replicas"])
        c.conv.origin(f"{c.mpath}.replicas", d.key_at("replicas"))
    if isinstance(d.get("resources"), LDict):
        r = d["resources"]
        limits = r.get("limits") if isinstance(r.get("limits"), LDict) else LDict()
        reservations = r.get("reservations") if isinstance(r.get("reservations"), LDict) else LDict()
        for key, field in (("cpus", "cpu"), ("memory", "memory")):
            convert = (lambda v: float(v)) if key == "cpus" else (lambda v: portable_size(memory_bytes(v)))
            if key in limits:
                _set_resource(c, field, convert(limits[key]), key, limits.key_at(key))
                if key in reservations:
                    c.conv.drop(reservations.key_at(key), f"{p}.resources.reservations.{key}", f"a limit is set too; portable sets one {field} amount, the limit")
            elif key in reservations:
                _set_resource(c, field, convert(reservations[key]), key, reservations.key_at(key))
                c.conv.approx(reservations.key_at(key), f"{p}.resources.reservations.{key}", f"a reservation becomes the one {field} amount, which targets also enforce as a limit", f"{c.mpath}.resources.{field}")
        c.conv.drop_rest(limits, f"{p}.resources.limits", {"cpus", "memory"})
        c.conv.drop_rest(reservations, f"{p}.resources.reservations", {"cpus", "memory"})
        c.conv.drop_rest(r, f"{p}.resources", {"limits", "reservations"})
    if isinstance(d.get("restart_policy"), LDict):
        rp = d["restart_policy"]
        if "condition" in rp:
            if "restart" in c.svc:
                c.conv.drop(rp.key_at("condition"), f"{p}.restart_policy.condition", "`restart` is set too and wins")
            else:
                cond = str(rp["condition"])
                c.out["restart"] = _RESTART_CONDITION.get(cond, "always")
                c.conv.origin(f"{c.mpath}.restart", rp.key_at("condition"))
        c.conv.drop_rest(rp, f"{p}.restart_policy", {"condition"})
    if d.get("mode") in (None, "replicated"):
        handled = {"replicas", "resources", "restart_policy", "mode"}
    else:
        handled = {"replicas", "resources", "restart_policy"}
    c.conv.drop_rest(d, p, handled)


def _health(c: ServiceContext) -> None:
    h = c.svc["healthcheck"]
    p = f"{c.path}.healthcheck"
    if not isinstance(h, LDict):
        return
    test = h.get("test")
    disabled = h.get("disable") in (True, "true") or (isinstance(test, list) and test[:1] == ["NONE"])
    if disabled:
        c.conv.approx(c.at("healthcheck"), p, "disabled: portable sets no check; on docker the image's own HEALTHCHECK still runs")
        return
    if test is None:
        c.conv.drop(c.at("healthcheck"), p, "no `test`: the image's HEALTHCHECK with other timings cannot be expressed; the image's own check runs unchanged on docker")
        return
    if isinstance(test, str):
        command = ["/bin/sh", "-c", test]
    elif test[:1] == ["CMD-SHELL"]:
        command = ["/bin/sh", "-c", " ".join(str(t) for t in test[1:])]
    elif test[:1] == ["CMD"]:
        command = [str(t) for t in test[1:]]
    else:
        command = [str(t) for t in test]
    health: dict[str, Any] = {"exec": {"command": command}}
    # compose's defaults, written out: portable's own defaults are shorter
    health["interval"] = portable_duration(h.get("interval", "30s"))
    health["timeout"] = portable_duration(h.get("timeout", "30s"))
    health["retries"] = int(h.get("retries", 3))
    health["start_period"] = portable_duration(h.get("start_period", "0s"))
    duration_seconds(health["interval"])
    c.set("health", health, "healthcheck")
    c.conv.drop_rest(h, p, {"test", "interval", "timeout", "retries", "start_period", "disable"})


def _depends_on(c: ServiceContext) -> None:
    deps = c.svc["depends_on"]
    out: list[str] = []
    services = c.conv.project.model.get("services") or {}
    entries = [(str(d), None, deps.at(i)) for i, d in enumerate(deps)] if isinstance(deps, LList) else [(k, deps[k], deps.key_at(k)) for k in deps]
    for dep, spec, loc in entries:
        p = f"{c.path}.depends_on.{dep}"
        if dep not in services:
            c.conv.drop(loc, p, f"service `{dep}` is not active (outside the selected profiles)")
            continue
        condition = "service_started"
        if isinstance(spec, LDict):
            condition = str(spec.get("condition", "service_started"))
            if spec.get("required") is False:
                c.conv.approx(spec.key_at("required"), f"{p}.required", "every portable dependency is required")
            if "restart" in spec and spec["restart"] not in (False, "false"):
                c.conv.drop(spec.key_at("restart"), f"{p}.restart")
            c.conv.drop_rest(spec, p, {"condition", "required", "restart"})
        if condition == "service_completed_successfully":
            c.conv.drop(spec.key_at("condition") if isinstance(spec, LDict) else loc, f"{p}.condition", "service_completed_successfully: portable runs long-lived services only, so a one-shot task cannot gate another; start order is not kept either")
            continue
        dep_svc = services.get(dep)
        dep_has_check = isinstance(dep_svc, LDict) and isinstance(dep_svc.get("healthcheck"), LDict) and not dep_svc["healthcheck"].get("disable")
        if condition == "service_started" and dep_has_check:
            c.conv.approx(loc, f"{p}", f"portable waits until `{dep}` is healthy, not only started", f"{c.mpath}.depends_on")
        out.append(c.names.get(dep, dep))
    if out:
        c.set("depends_on", out, "depends_on")


def _networks(c: ServiceContext) -> None:
    nets = c.svc["networks"]
    names = list(nets) if isinstance(nets, (LList, LDict)) else []
    if any(str(n) != "default" for n in names) or (isinstance(nets, LDict) and any(isinstance(v, dict) and v for v in nets.values())):
        c.conv.approx(c.at("networks"), f"{c.path}.networks", "the service joins the one app network; named networks, aliases and addresses are not carried")


def _links(c: ServiceContext) -> None:
    aliased = [str(link) for link in c.svc["links"] if ":" in str(link) and str(link).split(":", 1)[0] != str(link).split(":", 1)[1]]
    if aliased:
        c.conv.approx(c.at("links"), f"{c.path}.links", f"services reach each other by service name; the aliases in {', '.join(aliased)} are not carried")


def _privileged(c: ServiceContext) -> None:
    if c.svc["privileged"] in (True, "true"):
        c.conv.drop(c.at("privileged"), f"{c.path}.privileged", "privileged: true is not carried: flagged, the service may need host access no target grants")


def _capabilities(raw: Any) -> list[str]:
    """compose's `cap_add: [NET_ADMIN, CAP_SYS_TIME, all]` as the manifest's names."""
    items = raw if isinstance(raw, list) else [raw]
    return [text(c).strip().upper().removeprefix("CAP_") for c in items]


def _security(c: ServiceContext) -> dict[str, Any]:
    security: dict[str, Any] = c.out.setdefault("security", {})
    return security


def _cap_add(c: ServiceContext) -> None:
    _security(c).setdefault("capabilities", {})["add"] = _capabilities(c.svc["cap_add"])
    c.conv.origin(f"{c.mpath}.security.capabilities.add", c.svc.key_at("cap_add"))


def _cap_drop(c: ServiceContext) -> None:
    _security(c).setdefault("capabilities", {})["drop"] = _capabilities(c.svc["cap_drop"])
    c.conv.origin(f"{c.mpath}.security.capabilities.drop", c.svc.key_at("cap_drop"))


def _read_only(c: ServiceContext) -> None:
    if c.svc["read_only"] in (True, "true"):
        _security(c)["read_only_root"] = True
        c.conv.origin(f"{c.mpath}.security.read_only_root", c.svc.key_at("read_only"))


def compose_security_defaults(c: ServiceContext) -> None:
    """A compose service keeps the engine's default capabilities unless `cap_drop` says
    otherwise, as `docker compose up` runs it (images like postgres start as root to chown
    their data, then drop to their user); everything else is hardened as any service."""
    caps = _security(c).setdefault("capabilities", {})
    caps.setdefault("drop", [])


HANDLERS: dict[str, Handler] = {
    "image": _image, "build": _build, "command": _command, "entrypoint": _entrypoint,
    "environment": _environment, "env_file": _environment, "labels": _labels, "label_file": _labels,
    "restart": _restart, "user": _user, "working_dir": _working_dir, "stop_grace_period": _stop_grace, "scale": _scale,
    "cpus": _cpus, "mem_limit": _mem_limit, "mem_reservation": _mem_reservation, "deploy": _deploy,
    "healthcheck": _health, "depends_on": _depends_on, "networks": _networks, "links": _links,
    "privileged": _privileged, "cap_add": _cap_add, "cap_drop": _cap_drop, "read_only": _read_only,
}


def convert_fields(c: ServiceContext, extra: Mapping[str, Handler]) -> None:
    """Runs each key's handler once; keys without one are warned by the table."""
    handlers = {**HANDLERS, **extra}
    done: set[Handler] = set()
    for key in c.svc:
        if key.startswith("x-"):
            continue
        handler = handlers.get(key)
        if handler is not None:
            if handler not in done:
                done.add(handler)
                before = set(c.out)
                handler(c)
                for field in set(c.out) - before:  # the field starts where its compose key does
                    c.conv.origin(f"{c.mpath}.{field}", c.at(key))
            continue
        r = rule(f"services.*.{key}")
        if r.fate == LOADER:
            continue
        c.conv.drop(c.at(key), f"{c.path}.{key}")


def portable_name(name: str) -> str:
    return dns_label(name)
