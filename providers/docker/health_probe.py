"""Running a container's own health check now, instead of waiting for the engine's first run of it.

The engine runs a HEALTHCHECK for the first time one `interval` after the container starts
(10 s by portable's default, 30 s by Docker's; Docker 25's `start_interval` is not on every
engine, and Debian's 20.10 has none). Until then it reports "starting", though the service may
have answered for seconds. A deploy that waits for that first run waits one interval per
dependency level, as compose's `up --wait` does; Kubernetes runs a readiness probe as soon as
the container runs. So portable runs the same test itself, as the engine would (an exec of the
check's command in the container, as its user, bounded by the check's timeout), and counts a
pass as healthy while the engine still says "starting". A failed probe counts for nothing:
only the engine's own retries make a container unhealthy, so the verdict never gets worse
than the engine's.

A pass is remembered for the container (`_passed`): routing and status, which ask again right
after the deploy's wait, do not exec a second time.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import docker

from portable.engine import cancel

SECONDS_NS = 1_000_000_000
_EXEC_POLL_S = 0.02  # between looks at a running probe: a local HTTP check takes a few milliseconds
_passed: set[str] = set()
_passed_lock = threading.Lock()


def verdict(client: docker.DockerClient, data: Mapping[str, Any]) -> bool | None:
    """Whether the inspected container is healthy: None without a health check; True when the
    engine says healthy, or says starting and the check passes now; False otherwise."""
    health = (data.get("State") or {}).get("Health")
    if health is None:
        return None
    status = health.get("Status")
    if status == "healthy":
        return True
    return status == "starting" and passes(client, data)


def passes(client: docker.DockerClient, data: Mapping[str, Any]) -> bool:
    """Runs the container's HEALTHCHECK test once (if it is running); True when it exits 0."""
    cid = str(data.get("Id", ""))
    with _passed_lock:
        if cid in _passed:
            return True
    if not (data.get("State") or {}).get("Running"):
        return False
    config = data.get("Config") or {}
    command = _command(config)
    if command is None:
        return False
    timeout = (int((config.get("Healthcheck") or {}).get("Timeout") or 0) or 30 * SECONDS_NS) / SECONDS_NS
    if not _exits_zero(client, cid, command, timeout):
        return False
    with _passed_lock:
        _passed.add(cid)
    return True


def _command(config: Mapping[str, Any]) -> list[str] | None:
    """The argv the engine runs for the check: CMD as given, CMD-SHELL through the image's shell."""
    test = list((config.get("Healthcheck") or {}).get("Test") or [])
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL" and len(test) > 1:
        return [*(config.get("Shell") or ["/bin/sh", "-c"]), test[1]]
    if test[0] == "CMD" and len(test) > 1:
        return test[1:]
    return None


def _exits_zero(client: docker.DockerClient, cid: str, command: list[str], timeout: float) -> bool:
    """Execs `command` detached and waits for its exit code up to `timeout`.

    A probe still running at its timeout is a failure and is left to finish on its own (the
    engine's own check of it will time out the same way); any engine error is a failure too:
    the engine's verdict still decides."""
    try:
        exec_id = client.api.exec_create(cid, command, stdout=False, stderr=False)["Id"]
        client.api.exec_start(exec_id, detach=True)
        deadline = time.monotonic() + timeout
        while True:
            info = client.api.exec_inspect(exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"]) == 0
            if time.monotonic() > deadline:
                return False
            cancel.pause(_EXEC_POLL_S)
    except docker.errors.DockerException:
        return False
