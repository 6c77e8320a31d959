"""Ports, `expose`, volumes, secrets and configs of one compose service.

Port syntaxes (`"127.0.0.1:8080:80/tcp"`, ranges, the long form) become portable ports;
named volumes become volume mounts, anonymous ones named volumes, and a small text file
bind-mounted from inside the project becomes a config file in the manifest. Everything
else a mount can be (a host directory, the Docker socket, tmpfs) is warned, never dropped
silently.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from portable.compose.located import LDict, Loc
from portable.compose.merge import split_volume
from portable.compose.service import ServiceContext
from portable.compose.emit import Octal
from portable.compose.values import dns_label

MAX_FILE_BYTES = 256 * 1024
_PORT = re.compile(r"^(?:(?P<ip>\[[^\]]+\]|[0-9.]+):)??(?:(?P<host>[0-9]+(?:-[0-9]+)?)?:)?(?P<target>[0-9]+(?:-[0-9]+)?)(?:/(?P<proto>tcp|udp|sctp))?$")


def _l4(protocol: str) -> str:
    return "udp" if protocol == "udp" else "tcp"


def _range(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def _ports(c: ServiceContext) -> None:
    out: list[dict[str, Any]] = c.out.setdefault("ports", [])
    seen: dict[tuple[int, str], str] = {(p["port"], _l4(p["protocol"])): "" for p in out}
    for i, entry in enumerate(c.svc["ports"]):
        loc = c.svc["ports"].at(i)
        where = f"{c.path}.ports[{i}]"
        mappings = _parse_port(c, entry, loc, where)
        for target, published, proto, name in mappings:
            key = (target, _l4(proto))
            if key in seen:
                c.conv.drop(loc, where, f"container port {target}/{key[1]} is already published by {seen[key] or 'another entry'}; portable publishes a container port once")
                continue
            seen[key] = where
            port: dict[str, Any] = {"port": target, "protocol": proto, "expose": "public"}
            if published is not None and published != target:
                port["published"] = published
            if published is None:
                c.conv.approx(loc, where, f"no host port: compose picks a free one, portable publishes {target}", f"{c.mpath}.ports[{len(out)}]")
            if name:
                port["name"] = name
            c.conv.origin(f"{c.mpath}.ports[{len(out)}]", loc)
            out.append(port)
    if not out:
        del c.out["ports"]


def _parse_port(c: ServiceContext, entry: Any, loc: Loc, where: str) -> list[tuple[int, int | None, str, str | None]]:
    if isinstance(entry, LDict):
        target = int(str(entry["target"]).split("-")[0]) if "target" in entry else None
        if target is None:
            c.conv.drop(loc, where, "a port without `target` publishes nothing")
            return []
        proto = str(entry.get("protocol", "tcp"))
        if str(entry.get("app_protocol", "")).lower() in ("http", "http1.1", "h2c") and proto == "tcp":
            proto = "http"
        if proto == "sctp":
            c.conv.drop(loc, where, "sctp ports are not carried")
            return []
        published = entry.get("published")
        pub = int(str(published).split("-")[0]) if published not in (None, "") else None
        if published is not None and "-" in str(published):
            c.conv.approx(entry.key_at("published"), f"{where}.published", f"a host port range: portable publishes {pub}")
        name = None
        if "name" in entry:
            if re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", str(entry["name"])) and len(str(entry["name"])) <= 15:
                name = str(entry["name"])
            else:
                c.conv.drop(entry.key_at("name"), f"{where}.name", "a port name must be a DNS label of at most 15 characters")
        if "host_ip" in entry and str(entry["host_ip"]) not in ("0.0.0.0", "::"):
            c.conv.drop(entry.key_at("host_ip"), f"{where}.host_ip", f"bound to {entry['host_ip']} in compose; the target decides the bind address (docker: the `bind_address` setting)")
        if "mode" in entry and entry["mode"] != "ingress":
            c.conv.drop(entry.key_at("mode"), f"{where}.mode")
        c.conv.drop_rest(entry, where, {"target", "published", "protocol", "app_protocol", "name", "host_ip", "mode"})
        return [(target, pub, proto, name)]
    m = _PORT.match(str(entry))
    if m is None:
        from portable.errors import ManifestError, Problem

        raise ManifestError([Problem(where, f"invalid port {entry!r}: expected [[IP:]HOST:]CONTAINER[/PROTOCOL]", loc.file, loc.line, loc.col)])
    proto = m.group("proto") or "tcp"
    if proto == "sctp":
        c.conv.drop(loc, where, "sctp ports are not carried")
        return []
    if m.group("ip") and m.group("ip") not in ("0.0.0.0", "[::]"):
        c.conv.drop(loc, where, f"the host address: bound to {m.group('ip')} in compose; the target decides the bind address (docker: the `bind_address` setting)")
    targets = _range(m.group("target"))
    hosts = _range(m.group("host")) if m.group("host") else []
    if hosts and len(hosts) != len(targets):
        if len(targets) == 1:
            c.conv.approx(loc, where, f"a host port range for one container port: portable publishes {hosts[0]}")
            hosts = hosts[:1]
        else:
            from portable.errors import ManifestError, Problem

            raise ManifestError([Problem(where, f"port ranges of different lengths in {entry!r}", loc.file, loc.line, loc.col)])
    return [(t, hosts[i] if hosts else None, proto, None) for i, t in enumerate(targets)]


def _expose(c: ServiceContext) -> None:
    out: list[dict[str, Any]] = c.out.setdefault("ports", [])
    have = {(p["port"], p["protocol"] if p["protocol"] != "http" else "tcp") for p in out}
    for i, entry in enumerate(c.svc["expose"]):
        text, _, proto = str(entry).partition("/")
        proto = proto or "tcp"
        for port in _range(text):
            if (port, proto) in have:
                continue  # a published port is reachable inside the app too
            have.add((port, proto))
            c.conv.origin(f"{c.mpath}.ports[{len(out)}]", c.svc["expose"].at(i))
            out.append({"port": port, "protocol": proto, "expose": "internal"})
    if not out:
        del c.out["ports"]


def _volumes(c: ServiceContext) -> None:
    mounts: list[dict[str, Any]] = c.out.setdefault("volumes", [])
    files: list[dict[str, Any]] = c.out.setdefault("files", [])
    declared = c.conv.project.model.get("volumes") or {}
    for i, entry in enumerate(c.svc["volumes"]):
        loc = c.svc["volumes"].at(i)
        where = f"{c.path}.volumes[{i}]"
        kind, source, target, read_only = _parse_volume(c, entry, loc, where)
        if kind == "volume" and not source:
            name = dns_label(f"{c.name}-{target.strip('/').replace('/', '-')}")
            c.conv.volume_names_add(name, None)
            c.conv.approx(loc, where, f"an anonymous volume becomes the named volume `{name}` (it is kept across deploys; compose makes a new one per container)", f"{c.mpath}.volumes[{len(mounts)}]")
            c.conv.origin(f"{c.mpath}.volumes[{len(mounts)}]", loc)
            mounts.append({"volume": name, "path": target, **({"read_only": True} if read_only else {})})
        elif kind == "volume":
            if source not in declared:
                from portable.errors import ManifestError, Problem

                raise ManifestError([Problem(where, f"refers to undefined volume `{source}`", loc.file, loc.line, loc.col, "declare it under top-level `volumes:`")])
            name = c.conv.volume_names_add(dns_label(source), source)
            c.conv.origin(f"{c.mpath}.volumes[{len(mounts)}]", loc)
            mounts.append({"volume": name, "path": target, **({"read_only": True} if read_only else {})})
        elif kind == "bind":
            _bind(c, source, target, loc, where, files)
        elif kind == "tmpfs":
            c.conv.drop(loc, where, "a tmpfs mount is not carried (no tmpfs in the portable model)")
        else:
            c.conv.drop(loc, where, f"a {kind} mount is not carried")
    if not mounts:
        del c.out["volumes"]
    if not files:
        del c.out["files"]


def _parse_volume(c: ServiceContext, entry: Any, loc: Loc, where: str) -> tuple[str, str, str, bool]:
    if isinstance(entry, LDict):
        kind = str(entry.get("type", "volume"))
        read_only = entry.get("read_only") in (True, "true")
        for sub in ("bind", "volume", "tmpfs", "image"):
            if sub in entry and isinstance(entry[sub], LDict) and not kind == sub == "tmpfs":  # the tmpfs mount is warned whole
                for key in entry[sub]:
                    if not (kind == "bind" and sub == "bind" and key == "create_host_path"):
                        c.conv.drop(entry[sub].key_at(key), f"{where}.{sub}.{key}")
        c.conv.drop_rest(entry, where, {"type", "source", "target", "read_only", "bind", "volume", "tmpfs", "image"})
        return kind, str(entry.get("source", "") or ""), str(entry.get("target", "")), read_only
    parts = split_volume(str(entry))
    if len(parts) == 1:
        return "volume", "", parts[0], False
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) > 2 else []
    for opt in options:
        if opt not in ("ro", "rw", "z", "Z", "nocopy", "cached", "delegated", "consistent"):
            c.conv.drop(loc, f"{where}", f"unknown mount option {opt!r}")
        elif opt not in ("ro", "rw"):
            c.conv.drop(loc, f"{where}", f"mount option {opt!r} is host-specific")
    kind = "bind" if source.startswith((".", "/", "~", "$")) or "\\" in source else "volume"
    return kind, source, target, "ro" in options


def _bind(c: ServiceContext, source: str, target: str, loc: Loc, where: str, files: list[dict[str, Any]]) -> None:
    base = c.conv.project.base_dir(loc)
    host = (Path(source).expanduser() if source.startswith("~") else base / source).resolve()
    project = c.conv.project.project_dir.resolve()
    inside = host == project or project in host.parents
    if not inside:
        c.conv.drop(loc, where, f"bind mount of {source}: a host path outside the project is host-specific")
        return
    if not host.exists():
        c.conv.drop(loc, where, f"bind mount of {source}: it does not exist (compose would create an empty directory)")
        return
    if host.is_dir():
        c.conv.drop(loc, where, f"bind mount of the directory {source}: directories are host-specific; use a named volume or bake it into the image")
        return
    size = host.stat().st_size
    if size > MAX_FILE_BYTES:
        c.conv.drop(loc, where, f"bind mount of {source}: {size} bytes is too large for a config file (at most {MAX_FILE_BYTES})")
        return
    try:
        content = host.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        c.conv.drop(loc, where, f"bind mount of {source}: not a text file")
        return
    mode = host.stat().st_mode & 0o777
    c.conv.approx(loc, where, f"the file {source} is copied into the manifest as a config file at {target} (a snapshot: edit it and import again)", f"{c.mpath}.files[{len(files)}]")
    c.conv.origin(f"{c.mpath}.files[{len(files)}]", loc)
    files.append({"path": target, "content": content, "mode": Octal(mode)})


def _secrets(c: ServiceContext) -> None:
    refs: list[Any] = []
    carried = c.conv.secret_names
    for i, entry in enumerate(c.svc["secrets"]):
        loc = c.svc["secrets"].at(i)
        where = f"{c.path}.secrets[{i}]"
        source = str(entry["source"] if isinstance(entry, LDict) else entry)
        if source not in carried:
            declared = (c.conv.project.model.get("secrets") or {})
            why = "undefined secret" if source not in declared else "the secret itself is not carried (see its warning)"
            c.conv.drop(loc, where, f"`{source}`: {why}")
            continue
        name = carried[source]
        if isinstance(entry, LDict):
            target = str(entry.get("target", "") or "")
            for key in ("uid", "gid", "mode"):
                if key in entry:
                    c.conv.drop(entry.key_at(key), f"{where}.{key}")
            c.conv.drop_rest(entry, where, {"source", "target", "uid", "gid", "mode"})
            if target:
                path = target if target.startswith("/") else f"/run/secrets/{target}"
                refs.append({"name": name, "path": path})
                c.conv.origin(f"{c.mpath}.secrets[{len(refs) - 1}]", loc)
                continue
        refs.append(name)
        c.conv.origin(f"{c.mpath}.secrets[{len(refs) - 1}]", loc)
    if refs:
        c.out["secrets"] = refs


def _configs(c: ServiceContext) -> None:
    files: list[dict[str, Any]] = c.out.setdefault("files", [])
    contents = c.conv.config_contents
    for i, entry in enumerate(c.svc["configs"]):
        loc = c.svc["configs"].at(i)
        where = f"{c.path}.configs[{i}]"
        source = str(entry["source"] if isinstance(entry, LDict) else entry)
        if source not in contents:
            declared = (c.conv.project.model.get("configs") or {})
            why = "undefined config" if source not in declared else "the config's content could not be carried (see its warning)"
            c.conv.drop(loc, where, f"`{source}`: {why}")
            continue
        target = f"/{source}"
        mode = 0o444
        if isinstance(entry, LDict):
            target = str(entry.get("target") or target)
            if not target.startswith("/"):
                target = "/" + target
            if "mode" in entry:
                raw = entry["mode"]
                mode = int(str(raw), 8) if isinstance(raw, str) else int(raw)
            for key in ("uid", "gid"):
                if key in entry:
                    c.conv.drop(entry.key_at(key), f"{where}.{key}")
            c.conv.drop_rest(entry, where, {"source", "target", "mode", "uid", "gid"})
        c.conv.origin(f"{c.mpath}.files[{len(files)}]", loc)
        files.append({"path": target, "content": contents[source], "mode": Octal(mode)})
    if not files:
        del c.out["files"]


STORAGE_HANDLERS = {"ports": _ports, "expose": _expose, "volumes": _volumes, "secrets": _secrets, "configs": _configs}
