"""The everyday verbs that act on a deployed app: `exec`, `scale` and `restart` (the Python
API; the CLI is portable/cli/verbs.py).

`exec` runs through the target's Executor role (Capability.EXEC): a target without it is
refused with one sentence before anything is contacted. `scale` is a revision of kind
`scale` applied through the normal plan/apply path (health-gated, rolled back on failure);
how long its override lasts is portable/scale.py's docstring. `restart` is the same path with
a restart time as the replicas' label, so every target replaces them its own rolling way.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from portable.api import DeployResult, _apply_revision
from portable.errors import InputError
from portable.session import Session
from portable.state import StateStore

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    return None


def exec_command(path: str | Path | Session, target: str, service: str, command: list[str], *, replica: int = 1,
                 out: Callable[[bytes], None], err: Callable[[bytes], None], stdin: object = None, tty: bool = False,
                 env: Mapping[str, str] | None = None) -> int:
    """Runs `command` in replica `replica` of `service` on `target`; returns its exit code."""
    from portable.providers.base import Capability, ExecIO, Executor, role

    session = Session.open(path, env=env)
    app = session.app(target)
    if service not in app.services:
        raise InputError(f"no service named {service} in {app.name}; services: {', '.join(sorted(app.services))}")
    if replica < 1:
        raise InputError(f"--replica {replica}: replicas are numbered from 1")
    if not command:
        raise InputError("no command given: portable exec SERVICE -- CMD [ARG...]")
    executor = role(session.provider(target), Executor, Capability.EXEC, target, "portable exec")
    return executor.exec_in(app, service, replica, command, ExecIO(out=out, err=err, stdin=stdin, tty=tty))


def scale(path: str | Path | Session, target: str, replicas: Mapping[str, int], *, state: str | Path | StateStore | None = None,
          env: Mapping[str, str] | None = None, progress: Progress = _quiet, timeout: float = 300.0,
          parallelism: int | None = None, lock_wait: float = 30.0) -> DeployResult:
    """Sets the replicas of services (overriding the manifest's, see portable.scale), recorded
    as a revision of kind `scale`; None as the revision when they already run that many."""
    from portable.scale import check_request, message, scaled

    session = Session.open(path, env=env, state=state)
    app = session.app(target)
    check_request(app, replicas)
    note = message(app, replicas)
    session._apps[target] = scaled(app, session.store(), replicas)  # what `prepared` plans with
    app, provider, desired = session.prepared(target)
    return _apply_revision(app, provider, session.store(), desired, "scale", progress, timeout, parallelism, message=note, lock_wait=lock_wait)


def restart(path: str | Path | Session, target: str, services: list[str] | None = None, *, state: str | Path | StateStore | None = None,
            env: Mapping[str, str] | None = None, progress: Progress = _quiet, timeout: float = 300.0,
            parallelism: int | None = None, lock_wait: float = 30.0) -> DeployResult:
    """Replaces the replicas of `services` (default: all) the target's rolling, health-gated
    way, recorded as a revision of kind `restart`."""
    from datetime import datetime, timezone

    from portable.scale import restart_message, scaled

    session = Session.open(path, env=env, state=state)
    app = session.app(target)
    names = list(services or app.services)
    unknown = [s for s in names if s not in app.services]
    if unknown:
        raise InputError(f"no service named {', '.join(unknown)} in {app.name}; services: {', '.join(sorted(app.services))}")
    at = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    note = restart_message(app, names, at)  # of the manifest's definitions, before the label is added
    session._apps[target] = scaled(app, session.store(), restart={s: at for s in names})
    app, provider, desired = session.prepared(target)
    return _apply_revision(app, provider, session.store(), desired, "restart", progress, timeout, parallelism, message=note, lock_wait=lock_wait)
