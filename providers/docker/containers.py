"""Creating one replica container from its spec, and waiting until the engine says it is healthy.

Secrets and config files are written into the created (not yet started) container with
put_archive, as files owned by the container's user (root unless `user:` is numeric) and
mode 0400 for secrets: they never appear in the container's env, command line or
`docker inspect`, and never pass through a shell.
"""
from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Mapping
from typing import Any

import docker
from docker.types import Mount

from portable.engine import cancel
from portable.errors import HealthCheckError
from portable.manifest.app import App
from portable.plan.resources import Resource

from portable.providers.docker import health_probe, naming
from portable.providers.docker.engine import created_once, engine_call, retried

SECONDS_NS = 1_000_000_000
STEADY_WITHOUT_HEALTH_S = 2.0  # a container without a health check counts as up after this long running
POLL_S = 0.25  # between inspections once a container's health check has run (or its steady time is up)
PROBE_FIRST_S = 0.1  # the gap after portable's first run of a health check that failed; grows x1.5
PROBE_MAX_S = 1.0  # ... up to this
RESTART_POLICY = {
    "always": {"Name": "always"},
    "unless-stopped": {"Name": "unless-stopped"},
    "on-failure": {"Name": "on-failure", "MaximumRetryCount": 0},
    "no": {"Name": "no"},
}


def labels_for(app: App, res: Resource, target: str) -> dict[str, str]:
    """The manifest's labels plus the ones observe/destroy/status read back."""
    spec_labels = res.spec.get("labels", {}) if res.kind == naming.KIND_CONTAINER else {}
    return {
        **{str(k): str(v) for k, v in spec_labels.items()},
        naming.LABEL_APP: app.name,
        naming.LABEL_KIND: res.kind,
        naming.LABEL_RESOURCE: res.name,
        naming.LABEL_REVISION: res.digest,
        naming.LABEL_TARGET: target,
        **({naming.LABEL_SERVICE: res.service} if res.service else {}),
        **({naming.LABEL_REPLICA: str(res.spec["replica"])} if "replica" in res.spec else {}),
        **({naming.LABEL_HEALTH_PATH: str(res.spec["proxy_health_path"])} if "proxy_health_path" in res.spec else {}),
        **({naming.LABEL_PROXY_PORTS: ",".join(f"{p['published']}:{p['port']}" for p in res.spec["ports"] if p["via"] == "proxy")}
           if res.kind == naming.KIND_CONTAINER else {}),
    }


def _healthcheck(health: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if health is None:
        return None
    return {
        "test": list(health["test"]),
        "interval": int(health["interval_s"] * SECONDS_NS),
        "timeout": int(health["timeout_s"] * SECONDS_NS),
        "retries": int(health["retries"]),
        "start_period": int(health["start_period_s"] * SECONDS_NS),
    }


def _owner(user: str | None) -> tuple[int, int]:
    """uid/gid for secret and config files: the container's numeric user, else root."""
    if not user:
        return 0, 0
    uid, _, gid = user.partition(":")
    if uid.isdigit():
        return int(uid), int(gid) if gid.isdigit() else int(uid)
    return 0, 0


def _archive(entries: list[tuple[str, bytes, int]], owner: tuple[int, int]) -> bytes:
    """A tar of absolute-path files; the engine creates missing parent directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data, mode in entries:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            info.mode = mode
            info.uid, info.gid = owner
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _security_config(security: Mapping[str, Any]) -> dict[str, Any]:
    """HostConfig fields for the service's `security:` (see providers/hardening.py); a spec
    from before hardening (no `security` key) keeps the engine's defaults."""
    if not security:
        return {}
    return {
        "privileged": security["privileged"],
        "cap_add": security["cap_add"] or None,
        "cap_drop": security["cap_drop"] or None,
        "security_opt": ["no-new-privileges:true"] if security["no_new_privileges"] else None,
        "read_only": security["read_only_root"] or None,
        "pid_mode": "host" if security["host_pid"] else None,
        "ipc_mode": "host" if security["host_ipc"] else None,
    }


def create_replica(
    client: docker.DockerClient, app: App, res: Resource, name: str, target: str, bind_address: str
) -> str:
    """Creates (not starts) the container for replica `res`, with its secrets and files in place."""
    spec = res.spec
    api = client.api
    security: dict[str, Any] = spec.get("security") or {}
    port_bindings: dict[str, Any] = {}
    exposed: list[Any] = []
    for p in spec["ports"]:
        proto = "udp" if p["protocol"] == "udp" else "tcp"
        exposed.append((p["port"], proto))
        if p["via"] == "direct":
            port_bindings[f"{p['port']}/{proto}"] = [(bind_address, p["published"])]
    host_config = api.create_host_config(
        restart_policy=RESTART_POLICY[spec["restart"]],
        nano_cpus=int(spec["cpus"] * SECONDS_NS) if spec["cpus"] else None,
        mem_limit=spec["memory"] or None,
        port_bindings=port_bindings or None,
        mounts=[Mount(v["path"], v["name"], type="volume", read_only=v["read_only"]) for v in spec["volumes"]],
        network_mode="host" if security.get("host_network") else spec["network"],
        init=False,
        **_security_config(security),
    )
    upstream = naming.upstream_alias(app.name, res.name, res.digest)
    networking = None if security.get("host_network") else api.create_networking_config(
        {spec["network"]: api.create_endpoint_config(aliases=[*spec["aliases"], upstream])}
    )

    def find_created() -> dict[str, Any] | None:  # an earlier try's container: same name, same labels
        found = [c for c in api.containers(all=True, filters={"name": [name]}) if f"/{name}" in c.get("Names", [])]
        ok = [c for c in found if all(c.get("Labels", {}).get(k) == v for k, v in labels_for(app, res, target).items())]
        return ok[0] if ok else None

    created = created_once(f"creating container {name}", lambda: api.create_container(
            image=spec["image"],
            name=name,
            entrypoint=spec["entrypoint"],
            command=spec["command"],
            environment=[f"{k}={v}" for k, v in spec["env"].items()],
            labels={**labels_for(app, res, target), naming.LABEL_UPSTREAM: upstream},
            ports=exposed or None,
            user=spec["user"],
            working_dir=spec.get("working_dir"),
            host_config=host_config,
            networking_config=networking,
            healthcheck=_healthcheck(spec["health"]),
            stop_timeout=int(spec["stop_grace_s"]),
            hostname=name,
        ), find_created)
    cid: str = created["Id"]
    owner = _owner(spec["user"])
    files = [(f["path"], f["content"].encode(), f["mode"]) for f in spec["files"]]
    if files:
        with engine_call(f"writing config files into {name}"):
            api.put_archive(cid, "/", _archive(files, owner))
    if spec["secrets"]:
        secrets = [(s["path"], app.secret_value(s["name"]), 0o400) for s in spec["secrets"]]
        with engine_call(f"writing secrets into {name}"):
            api.put_archive(cid, "/", _archive(secrets, owner))
    return cid


def start(client: docker.DockerClient, cid: str, name: str) -> None:
    retried(f"starting container {name}", lambda: client.api.start(cid))


def inspect(client: docker.DockerClient, cid: str, name: str) -> dict[str, Any]:
    return retried(f"inspecting container {name}", lambda: client.api.inspect_container(cid))  # type: ignore[no-any-return]


def wait_healthy(client: docker.DockerClient, cid: str, name: str, timeout: float) -> dict[str, Any]:
    """Returns the container's inspect data once healthy; raises HealthCheckError with its output.

    Inspected right after its start (a container that exited at once fails fast). With a health
    check, its test is also run by portable itself (health_probe.py) at once and then at growing
    gaps (PROBE_FIRST_S, x1.5, at most PROBE_MAX_S), so the wait ends when the service answers,
    not one engine interval later; only the engine makes it unhealthy. Without one, the next
    look is at the end of its steady time, then every POLL_S: a few inspects per container
    instead of one every POLL_S (20 containers starting at once made the engine answer 400
    inspects besides starting them)."""
    deadline = time.monotonic() + timeout
    first = True
    probe_gap = PROBE_FIRST_S
    while True:
        data = inspect(client, cid, name)
        state = data["State"]
        health = state.get("Health")
        status = state.get("Status")
        policy = (data.get("HostConfig", {}).get("RestartPolicy") or {}).get("Name") or "no"
        if status == "exited" and state.get("ExitCode") == 0 and policy in ("no", "on-failure"):
            return data  # a one-shot job that finished its work
        # a new container the engine already had to restart is crash-looping, healthy or not
        if status in ("exited", "dead") or state.get("Restarting") or int(data.get("RestartCount") or 0) > 0:
            raise HealthCheckError(
                f"container {name} stopped (exit code {state.get('ExitCode')}) before it became healthy",
                details=failure_details(client, cid, data),
            )
        if health is not None:
            if health.get("Status") == "healthy":
                return data
            if health.get("Status") == "unhealthy":
                raise HealthCheckError(f"container {name} is unhealthy", details=failure_details(client, cid, data))
            if health_probe.verdict(client, data):
                return data
        elif state.get("Running") and _running_for(state) >= STEADY_WITHOUT_HEALTH_S:
            return data
        if time.monotonic() > deadline:
            raise HealthCheckError(
                f"container {name} did not become healthy within {timeout:.0f}s",
                details=failure_details(client, cid, data),
            )
        if health is not None and state.get("Running"):
            pause, probe_gap = probe_gap, min(probe_gap * 1.5, PROBE_MAX_S)
        else:
            pause = max(_until_it_can_change(data) if first else POLL_S, POLL_S)
        first = False
        cancel.pause(min(pause, max(deadline - time.monotonic(), POLL_S)))


def _until_it_can_change(data: Mapping[str, Any]) -> float:
    """Seconds from now to the end of a container's steady time without a health check (the
    engine's clock, read from StartedAt, may be ahead of ours). A crash before then shows as an
    exit or a restart at that inspect. Containers with a check are probed instead (wait_healthy)."""
    state = data["State"]
    if not state.get("Running"):
        return POLL_S
    return min(STEADY_WITHOUT_HEALTH_S - _running_for(state), STEADY_WITHOUT_HEALTH_S)


def _running_for(state: Mapping[str, Any]) -> float:
    started = str(state.get("StartedAt", ""))
    try:
        from datetime import datetime

        stamp = datetime.fromisoformat(started[:26].rstrip("Z") + "+00:00")
        return time.time() - stamp.timestamp()
    except ValueError:
        return 0.0


def failure_details(client: docker.DockerClient, cid: str, data: Mapping[str, Any]) -> str:
    """The last health check outputs and log lines of a failing container."""
    lines: list[str] = []
    health = data.get("State", {}).get("Health") or {}
    for entry in (health.get("Log") or [])[-3:]:
        out = str(entry.get("Output", "")).strip().replace("\n", " | ")
        lines.append(f"  health check (exit {entry.get('ExitCode')}): {out or '(no output)'}")
    try:
        logs = client.api.logs(cid, stdout=True, stderr=True, tail=10).decode(errors="replace").strip()
    except Exception:  # the container may be gone already; the health lines still tell the story
        logs = ""
    if logs:
        lines.append("  last log lines:")
        lines += [f"    {line}" for line in logs.splitlines()[-10:]]
    return "\n".join(lines)


def ip_address(data: Mapping[str, Any], network: str) -> str | None:
    nets = data.get("NetworkSettings", {}).get("Networks") or {}
    entry = nets.get(network) or {}
    return entry.get("IPAddress") or None


def stop_and_remove(client: docker.DockerClient, cid: str, name: str, grace: float | None) -> None:
    """Stops (after `grace` seconds, None: the container's own stop timeout) and removes."""
    def go() -> None:
        try:
            client.api.stop(cid, timeout=None if grace is None else int(grace))
        except docker.errors.NotFound:
            return
        try:
            client.api.remove_container(cid, v=False, force=True)
        except docker.errors.NotFound:
            pass

    retried(f"removing container {name}", go)
