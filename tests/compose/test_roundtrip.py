"""Round trip against docker compose itself: for every fixture, `docker compose config`
of the compose file and of what `portable render --target local` writes from it give the
same containers' settings, for every key both carry; a difference is allowed only where
the import printed a warning for it.

Both sides are normalised by `docker compose config --format json` (docker compose v2 in
the lab), so spelling differences (short and long syntax, units) do not count.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from portable import api
from portable.compose.manifest import compose_conversion
from portable.compose.values import dns_label, duration_seconds, memory_bytes

from compose_support import FILES, FIXTURES, clean_env, fixture_names

pytestmark = pytest.mark.lab("compose")

NOT_RENDERED_LOCALLY = {"ports-syntax"}  # the docker target refuses it (see test_golden.EXPECTED_RENDER_ERRORS)


def _config(files: list[str], cwd: Path) -> dict[str, Any]:
    args = ["docker", "compose", *[a for f in files for a in ("-f", f)], "config", "--format", "json"]
    run = subprocess.run(args, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"{' '.join(args)} in {cwd}: {run.stderr}"
    return json.loads(run.stdout)


def _argv(test: list[str] | None) -> list[str] | None:
    if not test:
        return None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", *test[1:]]
    return test[1:] if test[0] == "CMD" else test


def _health(h: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if not h or h.get("disable"):
        return None
    return (_argv(h.get("test")), duration_seconds(h.get("interval", "30s")), duration_seconds(h.get("timeout", "30s")), int(h.get("retries", 3)), duration_seconds(h.get("start_period", "0s")))


def _ports(svc: dict[str, Any]) -> set[tuple[int, str, str]]:
    return {(int(p["target"]), str(p.get("published", "")), p.get("protocol", "tcp")) for p in svc.get("ports", []) if p.get("published")}


def _volumes(svc: dict[str, Any]) -> set[tuple[str, bool]]:
    return {(v["target"], bool(v.get("read_only"))) for v in svc.get("volumes", []) if v["type"] == "volume"}


def _limits(svc: dict[str, Any]) -> tuple[Any, Any]:
    limits = {"cpus": svc.get("cpus"), "memory": svc.get("mem_limit")}
    limits.update((svc.get("deploy") or {}).get("resources", {}).get("limits", {}))
    cpus, memory = limits.get("cpus"), limits.get("memory")
    return (float(cpus) if cpus is not None else None, memory_bytes(memory) if memory is not None else None)


RESTART_CONDITION = {"none": "no", "on-failure": "on-failure", "any": "always"}


def _restart(svc: dict[str, Any]) -> str:
    """The container's restart policy as compose sets it (deploy.restart_policy when `restart` is unset)."""
    if svc.get("restart"):
        return str(svc["restart"])
    condition = ((svc.get("deploy") or {}).get("restart_policy") or {}).get("condition")
    return RESTART_CONDITION.get(condition, "always") if condition else "no"


@pytest.mark.parametrize("name", [n for n in fixture_names() if n not in NOT_RENDERED_LOCALLY])
def test_rendered_containers_match_docker_compose_config(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lab: Any) -> None:
    cwd = FIXTURES / name
    files = FILES.get(name, ["compose.yaml"])
    want = _config(files, cwd)["services"]
    monkeypatch.chdir(cwd)
    warned = [f.path for f in compose_conversion([Path(f) for f in files], clean_env()).findings if f.fails_strict]
    api.render(tuple(files), "local", tmp_path, env=clean_env())
    got = _config([str(tmp_path / "docker-compose.yaml")], tmp_path)["services"]
    differences = []
    for svc_name, svc in want.items():
        replicas = [n for n in got if re.fullmatch(rf"{re.escape(dns_label(svc_name))}-\d+", n)]
        expected_replicas = int((svc.get("deploy") or {}).get("replicas") or svc.get("scale") or 1)
        if len(replicas) != expected_replicas:
            differences.append(f"{svc_name}: {len(replicas)} containers, compose runs {expected_replicas}")
            continue
        mine = got[replicas[0]]

        def differ(key: str, ours: Any, theirs: Any, svc_name: str = svc_name) -> None:
            if ours != theirs and not any(w.startswith(f"services.{svc_name}.{key}") for w in warned):
                differences.append(f"{svc_name}.{key}: portable {ours!r}, compose {theirs!r}")

        if "build" not in svc:
            differ("image", mine.get("image"), svc.get("image"))
        differ("entrypoint", mine.get("entrypoint"), svc.get("entrypoint"))
        differ("command", mine.get("command"), svc.get("command"))
        differ("environment", mine.get("environment") or {}, {k: v for k, v in (svc.get("environment") or {}).items() if v is not None})
        differ("healthcheck", _health(mine.get("healthcheck")), _health(svc.get("healthcheck")))
        differ("restart", _restart(mine), _restart(svc))
        differ("user", mine.get("user"), svc.get("user"))
        differ("stop_grace_period", duration_seconds(mine.get("stop_grace_period", "10s")), duration_seconds(svc.get("stop_grace_period", "10s")))
        differ("deploy", _limits(mine), _limits(svc))
        differ("volumes", {v for v in _volumes(mine)}, _volumes(svc))
        theirs_ports = _ports(svc)
        # a public http port is published by portable's front proxy container, not by the replica
        front = {str(p["published"]) for s in got.values() if (s.get("labels") or {}).get("io.portable.kind") == "proxy" for p in s.get("ports", [])}
        ours_ports = _ports(mine) | {p for p in theirs_ports if p[1] in front}
        differ("ports", ours_ports, theirs_ports)
        for key, value in (svc.get("labels") or {}).items():
            differ(f"labels.{key}", (mine.get("labels") or {}).get(key), value)
    assert not differences, "\n".join(differences)
