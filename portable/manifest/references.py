"""Checks that span the whole manifest: names, references, ports and dependency cycles.

Pydantic validates each object alone; these rules need the whole app. Each problem carries
the exact field path so the loader can point at the line and column.
"""
from __future__ import annotations

import difflib
import re

from portable.errors import Problem
from portable.manifest.model import DNS_LABEL, Manifest
from portable.manifest.paths import format_path

_LABEL = re.compile(DNS_LABEL)


def _suggest(name: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(name, choices, n=1)
    return f"did you mean `{close[0]}`?" if close else None


def check_references(m: Manifest) -> list[Problem]:
    """Every cross-object problem in `m`, in manifest order."""
    problems: list[Problem] = []
    add = problems.append
    services = list(m.services)
    for section, names in (("services", services), ("volumes", list(m.volumes)), ("secrets", list(m.secrets)), ("targets", list(m.targets))):
        for name in names:
            if len(name) > 63 or not _LABEL.fullmatch(name):
                add(Problem(format_path((section, name)), "name must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"))
    for target in m.overrides:
        if target != "local" and target not in m.targets:
            add(Problem(format_path(("overrides", target)), f"no target named `{target}` is declared under `targets`", hint=_suggest(target, list(m.targets))))
    published: dict[tuple[int, str], str] = {}
    for sname, svc in m.services.items():
        base = f"services.{sname}"
        if svc.image is None and svc.build is None:
            add(Problem(base, "set `image` or `build`"))
        seen: dict[tuple[int, str], int] = {}
        for i, port in enumerate(svc.ports):
            key = (port.port, "udp" if port.protocol == "udp" else "tcp")
            if key in seen:
                add(Problem(f"{base}.ports[{i}].port", f"port {port.port}/{key[1]} is already declared at ports[{seen[key]}]"))
            seen[key] = i
            if port.expose == "public":
                pkey = (port.public_port, key[1])
                if pkey in published:
                    add(Problem(f"{base}.ports[{i}]", f"public port {port.public_port} is already published by {published[pkey]}", hint="set `published:` to another port"))
                published[pkey] = f"services.{sname}.ports"
        for i, dep in enumerate(svc.depends_on):
            if dep not in m.services:
                add(Problem(f"{base}.depends_on[{i}]", f"no service named `{dep}`", hint=_suggest(dep, services)))
            elif dep == sname:
                add(Problem(f"{base}.depends_on[{i}]", "a service cannot depend on itself"))
        paths: dict[str, str] = {}
        for i, mount in enumerate(svc.volumes):
            if mount.volume not in m.volumes:
                add(Problem(f"{base}.volumes[{i}].volume", f"no volume named `{mount.volume}` under top-level `volumes`", hint=_suggest(mount.volume, list(m.volumes))))
            if mount.path in paths:
                add(Problem(f"{base}.volumes[{i}].path", f"path {mount.path} is already mounted by {paths[mount.path]}"))
            paths[mount.path] = f"volumes[{i}]"
        for i, ref in enumerate(svc.secrets):
            if ref.name not in m.secrets:
                add(Problem(f"{base}.secrets[{i}]", f"no secret named `{ref.name}` under top-level `secrets`", hint=_suggest(ref.name, list(m.secrets))))
            if ref.mount_path in paths:
                add(Problem(f"{base}.secrets[{i}]", f"path {ref.mount_path} is already mounted by {paths[ref.mount_path]}"))
            paths[ref.mount_path] = f"secrets[{i}]"
        for i, f in enumerate(svc.files):
            if f.path in paths:
                add(Problem(f"{base}.files[{i}].path", f"path {f.path} is already mounted by {paths[f.path]}"))
            paths[f.path] = f"files[{i}]"
        if svc.health and svc.health.http and svc.ports and svc.health.http.port not in {p.port for p in svc.ports}:
            add(Problem(f"{base}.health.http.port", f"port {svc.health.http.port} is not one of the service's ports ({', '.join(str(p.port) for p in svc.ports)})"))
        if svc.autoscale and svc.replicas > svc.autoscale.max:
            add(Problem(f"{base}.replicas", f"replicas ({svc.replicas}) is above autoscale.max ({svc.autoscale.max})"))
    cycle = find_cycle({s: [d for d in v.depends_on if d in m.services] for s, v in m.services.items()})
    if cycle:
        add(Problem(f"services.{cycle[0]}.depends_on", "dependency cycle: " + " -> ".join(cycle)))
    return problems


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in `graph` as a closed path (a -> b -> a), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
